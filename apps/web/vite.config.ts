import { defineConfig } from 'vite';

// `pnpm -C apps/web dev` serves the page with hot reload and sends /api to an API on :3000 (`pnpm -C services/api dev`).
export default defineConfig({
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  resolve: { alias: { react: 'preact/compat' } },
  build: {
    target: 'es2022',
    // No inline script or style anywhere: the page's CSP (services/api/src/features/web) allows 'self' only.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
  },
  server: { proxy: { '/api': 'http://127.0.0.1:3000', '/admin': 'http://127.0.0.1:3000' } },
});
