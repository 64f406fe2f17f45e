import { defineConfig } from 'vitest/config';

// Several suites spawn the CLI, run HiGHS or fast-check hundreds of cases: correct but slow on a loaded
// 2-core machine. Timeouts here only catch hangs; speed is measured in bench/, never asserted in tests.
export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
