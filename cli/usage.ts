export const EXIT_OK = 0;
/** Invalid spec or input (e.g. amd-smi output), or unschedulable demand. */
export const EXIT_INVALID = 1;
export const EXIT_USAGE = 2;
/** `plan --exit-code` and `synth --check`: the output would change (terraform's -detailed-exitcode). */
export const EXIT_CHANGES = 2;

/** A mistake in how the command was called (not in the specs): exit code 2 and a pointer to the help. */
export class UsageError extends Error {}

/** A failure the user can act on (a git ref that does not resolve, …): one line, exit code 1. */
export class CliError extends Error {}
