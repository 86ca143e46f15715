// A one-line progress bar on a terminal (stderr), redrawn at most ten times a second.
export class ProgressBar {
  readonly #stream: NodeJS.WriteStream;
  #last = 0;
  #started = Date.now();
  #label = '';

  constructor(stream: NodeJS.WriteStream = process.stderr) {
    this.#stream = stream;
  }

  static forTerminal(): ProgressBar | undefined {
    return process.stderr.isTTY ? new ProgressBar() : undefined;
  }

  update(label: string, done: number, total: number): void {
    const now = Date.now();
    if (label !== this.#label) {
      this.#label = label;
      this.#started = now;
    }
    if (now - this.#last < 100 && done < total) return;
    this.#last = now;
    const width = 30;
    const ratio = total > 0 ? Math.min(1, done / total) : 1;
    const filled = Math.round(ratio * width);
    const mbps = done / 1e6 / Math.max(0.001, (now - this.#started) / 1000);
    this.#stream.write(`\r${label.padEnd(26)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.round(ratio * 100)).padStart(3)}% ${mbps.toFixed(1)} MB/s`);
  }

  done(): void {
    if (this.#last > 0) this.#stream.write('\n');
  }
}
