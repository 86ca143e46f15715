// Runs a fuzz campaign in a worker thread and watches it: an input that makes no progress for
// `hangMillis` is a hang, a worker that dies (e.g. out of its heap limit) is a crash; both are
// reported with the input being run, read from shared memory. Used by scripts/fuzz.ts and the test.
import { Worker } from 'node:worker_threads';
import { fuzzTargets, toHex } from './fuzz-targets.ts';
import { SHARED_HEADER, SHARED_INPUT, type WorkerData, type WorkerMessage } from './fuzz-shared.ts';

export interface CampaignOptions {
  seconds: number;
  seed: number;
  /** Target names to run (default: all). */
  targets?: string[];
  /** No heartbeat for this long is a hang. */
  hangMillis?: number;
  /** Heap limit of the worker (MiB). */
  maxHeapMb?: number;
  /** Process RSS limit checked by the worker (MiB). */
  maxRssMb?: number;
}

export interface CampaignFailure {
  target: string;
  kind: 'exception' | 'hang' | 'memory' | 'crash';
  /** The input in hex. */
  input: string;
  error: string;
}

export interface CampaignResult {
  counts: Record<string, number>;
  failures: CampaignFailure[];
}

export function targetNames(): string[] {
  return fuzzTargets().map((t) => t.name);
}

export function runCampaign(options: CampaignOptions): Promise<CampaignResult> {
  const names = options.targets ?? targetNames();
  const shared = new SharedArrayBuffer(SHARED_HEADER + SHARED_INPUT);
  const control = new Int32Array(shared, 0, 3);
  const data: WorkerData = {
    shared,
    millisPerTarget: (options.seconds * 1000) / names.length,
    seed: options.seed,
    targets: names,
    maxRssMb: options.maxRssMb ?? 1536,
  };
  const worker = new Worker(new URL('./fuzz-worker.ts', import.meta.url), {
    workerData: data,
    resourceLimits: { maxOldGenerationSizeMb: options.maxHeapMb ?? 512 },
  });
  const hangMillis = options.hangMillis ?? 5000;
  const failures: CampaignFailure[] = [];
  let current = names[0] ?? '';
  const currentInput = (): string => {
    const length = Math.min(Atomics.load(control, 2), SHARED_INPUT);
    return toHex(new Uint8Array(shared, SHARED_HEADER, length));
  };
  return new Promise((resolve) => {
    let settled = false;
    let lastBeat = Atomics.load(control, 0);
    let lastProgress = performance.now();
    // The worker needs a moment to load its modules before the first heartbeat.
    let started = false;
    const finish = (counts: Record<string, number>): void => {
      if (settled) return;
      settled = true;
      clearInterval(watch);
      void worker.terminate();
      resolve({ counts, failures });
    };
    const watch = setInterval(() => {
      const beat = Atomics.load(control, 0);
      const now = performance.now();
      if (beat !== lastBeat || !started) {
        lastBeat = beat;
        lastProgress = now;
        return;
      }
      if (now - lastProgress > hangMillis) {
        failures.push({ target: current, kind: 'hang', input: currentInput(), error: `no progress for ${hangMillis} ms` });
        finish({});
      }
    }, 50);
    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'target') {
        current = m.name;
        started = true;
      } else if (m.type === 'failure') failures.push(m);
      else if (m.type === 'done') finish(m.counts);
    });
    worker.on('error', (e: Error & { code?: string }) => {
      const kind = e.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'memory' : 'crash';
      failures.push({ target: current, kind, input: currentInput(), error: `${e.code ?? e.name}: ${e.message}` });
      finish({});
    });
    worker.on('exit', (code) => {
      if (!settled) {
        failures.push({ target: current, kind: 'crash', input: currentInput(), error: `worker exited with ${code}` });
        finish({});
      }
    });
  });
}
