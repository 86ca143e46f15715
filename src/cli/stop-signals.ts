// SIGTERM and SIGINT for `oftp2 serve`, caught from the first moment: a stop that arrives while the
// command is still loading its modules (a few hundred ms from source) would otherwise meet the
// default action and kill the process without a clean stop. src/cli/main.ts starts catching before
// it loads the CLI; serve waits on the first signal once its daemon is up.

let first: string | undefined;
let waiters: ((signal: string) => void)[] | undefined;

/** Starts catching the stop signals (once; later calls do nothing). */
export function catchStopSignals(): void {
  if (waiters !== undefined) return;
  waiters = [];
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      if (first !== undefined) return;
      first = signal;
      for (const resolve of waiters!.splice(0)) resolve(signal);
    });
  }
}

/** The first stop signal, also one caught before this call. */
export function stopSignal(): Promise<string> {
  catchStopSignals();
  if (first !== undefined) return Promise.resolve(first);
  return new Promise((resolve) => waiters!.push(resolve));
}
