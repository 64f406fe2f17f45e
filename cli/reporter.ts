import { performance } from 'node:perf_hooks';

/** Where a command writes: results to `out`, everything about the run to `err`. */
export interface Streams {
  readonly out: Output;
  readonly err: Output;
}

export interface Output {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

export interface ReporterOptions {
  readonly command: string;
  readonly quiet: boolean;
  readonly verbose: boolean;
  readonly streams: Streams;
  /** Show a progress line once a run passes this long (only when `err` is a terminal). */
  readonly progressAfterMs?: number;
}

/**
 * Stage timings (`--verbose`), a progress line on a terminal when a run takes more than a second,
 * and the quiet switch. Results (a plan, a diff) go to stdout and are never silenced; `--quiet`
 * drops the success summary and warnings, never errors.
 */
export class Reporter {
  private readonly stages: { name: string; start: number; end?: number }[] = [];
  private readonly timer?: NodeJS.Timeout;
  private showing = false;
  private drawn = false;

  constructor(private readonly options: ReporterOptions) {
    if (!options.quiet && options.streams.err.isTTY) {
      this.timer = setTimeout(() => {
        this.showing = true;
        this.drawProgress();
      }, options.progressAfterMs ?? 1000);
      this.timer.unref();
    }
  }

  get quiet(): boolean {
    return this.options.quiet;
  }

  /** Marks the start of a stage (and the end of the one before). */
  stage(name: string): void {
    const now = performance.now();
    const last = this.stages.at(-1);
    if (last && last.end === undefined) last.end = now;
    this.stages.push({ name, start: now });
    if (this.showing) this.drawProgress();
  }

  /** A line about the run (a summary, "dist: wrote …"), on stderr, unless --quiet. */
  info(line: string, stream: 'out' | 'err' = 'err'): void {
    if (this.options.quiet) return;
    this.clearProgress();
    this.options.streams[stream].write(line + '\n');
  }

  /** Ends the run: clears the progress line and, under --verbose, prints the stage timings. */
  finish(): void {
    if (this.timer) clearTimeout(this.timer);
    const now = performance.now();
    const last = this.stages.at(-1);
    if (last && last.end === undefined) last.end = now;
    this.clearProgress();
    this.showing = false;
    if (this.options.verbose && this.stages.length > 0) {
      const total = this.stages.reduce((sum, s) => sum + (s.end! - s.start), 0);
      const parts = this.stages.map((s) => `${s.name} ${Math.round(s.end! - s.start)} ms`);
      this.options.streams.err.write(`aim-gpu ${this.options.command}: ${parts.join(', ')}; total ${Math.round(total)} ms\n`);
    }
  }

  /**
   * The streams a command writes to: each write first clears the progress line, so results and
   * diagnostics never share a line with it.
   */
  streams(): Streams {
    const wrap = (output: Output): Output => ({
      write: (text: string) => {
        this.clearProgress();
        return output.write(text);
      },
      isTTY: output.isTTY,
    });
    return { out: wrap(this.options.streams.out), err: wrap(this.options.streams.err) };
  }

  private drawProgress(): void {
    const stage = this.stages.at(-1)?.name ?? 'starting';
    this.options.streams.err.write(`\r\x1b[2Kaim-gpu ${this.options.command}: ${stage}…`);
    this.drawn = true;
  }

  /** Clears the progress line; the next stage draws it again. */
  private clearProgress(): void {
    if (this.showing && this.drawn) this.options.streams.err.write('\r\x1b[2K');
    this.drawn = false;
  }
}
