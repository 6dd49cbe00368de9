import { defineConfig } from "vite";

// Vite 8 compiles TSX itself (the automatic JSX runtime, from web/tsconfig.json);
// the React plugin would only add fast refresh for a dev server.
// The console is served by Custodian's express server at /admin, from web/dist.
export default defineConfig({
  root: import.meta.dirname,
  base: "/admin/",
  build: { outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 1000 },
  logLevel: "warn",
});
