/** Conversion progress on stderr: a redrawn bar on a terminal, plain lines (one per shard) otherwise. */
export type ProgressMode = 'bar' | 'lines' | 'off';

/** `progress` option → mode: on when true or (unset and stderr is a TTY); a bar only on a TTY. */
export function progressMode(progress: boolean | undefined, stream: NodeJS.WriteStream = process.stderr): ProgressMode {
  const on = progress ?? Boolean(stream.isTTY);
  return !on ? 'off' : stream.isTTY ? 'bar' : 'lines';
}

const MiB = 1024 * 1024;
const fmt = (b: number) => (b >= 1024 * MiB ? `${(b / 1024 / MiB).toFixed(2)} GiB` : `${(b / MiB).toFixed(1)} MiB`);

export class Progress {
  private tensors = 0;
  private bytes = 0;
  private drawn = 0;
  private readonly start = Date.now();

  constructor(
    private readonly totalTensors: number,
    private readonly totalBytes: number,
    private readonly mode: ProgressMode,
    private readonly stream: NodeJS.WritableStream = process.stderr,
  ) {}

  /** `bytes` more of the source processed; `tensorDone` when a tensor is complete. */
  advance(bytes: number, tensorDone = false): void {
    this.bytes += bytes;
    if (tensorDone) this.tensors++;
    if (this.mode !== 'bar') return;
    const now = Date.now();
    if (now - this.drawn < 100 && this.tensors < this.totalTensors) return; // redraw at most 10×/s
    this.drawn = now;
    const frac = this.totalBytes ? this.bytes / this.totalBytes : 1;
    const width = 30, full = Math.round(frac * width);
    this.stream.write(`\r[${'#'.repeat(full)}${' '.repeat(width - full)}] ${(frac * 100).toFixed(0).padStart(3)}%  ${this.tensors}/${this.totalTensors} tensors  ${fmt(this.bytes)}/${fmt(this.totalBytes)}`);
  }

  shardDone(file: string): void {
    if (this.mode === 'lines') this.stream.write(`converted ${file}: ${this.tensors}/${this.totalTensors} tensors, ${fmt(this.bytes)}/${fmt(this.totalBytes)}\n`);
  }

  finish(): void {
    if (this.mode === 'off') return;
    const secs = (Date.now() - this.start) / 1000;
    this.stream.write(`${this.mode === 'bar' ? '\n' : ''}done: ${this.tensors} tensors, ${fmt(this.bytes)} in ${secs.toFixed(1)} s\n`);
  }
}
