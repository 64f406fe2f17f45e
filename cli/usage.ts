export const EXIT_OK = 0;
/** Invalid spec or input (e.g. amd-smi output), or unschedulable demand. */
export const EXIT_INVALID = 1;
export const EXIT_USAGE = 2;

/** A mistake in how the command was called (not in the specs): exit code 2 with the command's help. */
export class UsageError extends Error {}
