import { defineConfig } from "vite";

// The Node benchmarks (bench/), bundled for Node 20 (which runs no TypeScript) into dist-bench/.
export default defineConfig({
  build: { ssr: "bench/grpcweb.ts", outDir: "dist-bench", emptyOutDir: true, target: "node20" },
  ssr: { noExternal: true },
});
