/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import tailwindcss from "@tailwindcss/vite";
import { precompress } from "./build/precompress";

// Built with relative API URLs: the app is served by `tradeplane serve` from web/dist.
// `npm run dev` proxies /api to a local server (TRADEPLANE_URL, default 127.0.0.1:8080).
export default defineConfig({
  plugins: [react(), tailwindcss(), precompress()],
  server: {
    // changeOrigin stays false: the server checks Origin against Host on state changes.
    proxy: { "/api": { target: process.env.TRADEPLANE_URL ?? "http://127.0.0.1:8080", changeOrigin: false } },
  },
  // No source maps: the served bundle must not publish the source.
  build: { outDir: "dist", sourcemap: false, chunkSizeWarningLimit: 600 },
  test: {
    environment: "jsdom",
    setupFiles: ["src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    css: false,
  },
});
