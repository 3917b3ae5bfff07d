import { defineConfig } from "vitest/config";

// The unit tests (test/), apart from the app's build config (vite.config.ts, rooted in app/).
export default defineConfig({
  test: { root: ".", include: ["test/**/*.test.ts"] },
});
