import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // CI asks for a JSON report beside the usual output (see .ci/run).
    reporters: process.env.VITEST_REPORT_FILE ? ['default', 'json'] : ['default'],
    ...(process.env.VITEST_REPORT_FILE ? { outputFile: { json: process.env.VITEST_REPORT_FILE } } : {}),
  },
});
