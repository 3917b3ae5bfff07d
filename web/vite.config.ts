import { defineConfig } from "vite";

// The demo app (app/), built to static files in dist/. TSX through Vite's own transform with React's
// automatic runtime (no plugin needed for a build).
export default defineConfig({
  root: "app",
  base: "./",
  build: { outDir: "../dist", emptyOutDir: true, sourcemap: true },
  oxc: { jsx: { runtime: "automatic" } },
});
