import { defineConfig } from 'tsup';

export default defineConfig({
  // `portcullis` and `portcullis/metrics`: only the second imports prom-client.
  entry: { index: 'src/index.ts', metrics: 'src/metrics/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  // No source maps: they would point at sources the package does not ship.
  sourcemap: false,
  clean: true,
  target: 'node22',
  platform: 'node',
  splitting: false,
  // `import.meta.url` in the CommonJS build (src/tracing/tracing.ts finds the optional
  // @opentelemetry/api from the file's own location in both builds).
  shims: true,
});
