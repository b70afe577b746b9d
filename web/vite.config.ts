import { defineConfig } from "vite";

// No React plugin: esbuild compiles TSX with the automatic JSX runtime on its own.
export default defineConfig({
  esbuild: { jsx: "automatic" },
  build: { outDir: "dist", emptyOutDir: true, sourcemap: true },
  server: {
    proxy: {
      "/api": "http://localhost:8000",
      "/socket.io": { target: "ws://localhost:8000", ws: true },
    },
  },
  test: { environment: "node", include: ["src/**/*.test.ts"] },
});
