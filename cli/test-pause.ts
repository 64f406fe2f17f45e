/**
 * A test-only pause point. With `AIM_GPU_TEST_PAUSE=<point>` in the environment, the process
 * prints `aim-gpu: paused at <point>` to stderr on reaching that point and blocks there (up to a
 * minute), so a test can kill it at exactly that instant (test/cli/interrupt.test.ts). Unset, it
 * does nothing.
 */
export function testPause(point: string): void {
  if (process.env.AIM_GPU_TEST_PAUSE !== point) return;
  process.stderr.write(`aim-gpu: paused at ${point}\n`);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
}
