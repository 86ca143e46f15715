// Fuzz worker: runs the targets for their share of the time. Before each input it bumps a heartbeat
// and copies the input into shared memory, so the main thread can name the input of a hang or a crash.
import { parentPort, workerData } from 'node:worker_threads';
import { SHARED_HEADER, SHARED_INPUT, type WorkerData, type WorkerMessage } from './fuzz-shared.ts';
import { fuzzTargets, nextInput, Rng, toHex } from './fuzz-targets.ts';

const data = workerData as WorkerData;
const control = new Int32Array(data.shared, 0, 3);
const inputSlot = new Uint8Array(data.shared, SHARED_HEADER, SHARED_INPUT);
const post = (m: WorkerMessage): void => parentPort!.postMessage(m);

const all = fuzzTargets();
const targets = data.targets ? all.filter((t) => data.targets!.includes(t.name)) : all;
const counts: Record<string, number> = {};

targets.forEach((target, index) => {
  Atomics.store(control, 1, index);
  post({ type: 'target', index, name: target.name });
  const rng = new Rng(data.seed + index * 0x9e3779b1);
  const deadline = performance.now() + data.millisPerTarget;
  let runs = 0;
  let failed = false;
  while (!failed) {
    if ((runs & 63) === 0) {
      if (performance.now() >= deadline) break;
      if ((runs & 4095) === 0 && process.memoryUsage.rss() / 2 ** 20 > data.maxRssMb) {
        post({ type: 'failure', target: target.name, kind: 'memory', input: '', error: `RSS above ${data.maxRssMb} MiB` });
        break;
      }
    }
    const input = nextInput(rng, target.seeds);
    inputSlot.set(input.subarray(0, SHARED_INPUT));
    Atomics.store(control, 2, input.length);
    Atomics.add(control, 0, 1);
    runs++;
    try {
      target.run(input);
    } catch (e) {
      if (!target.accepts(e)) {
        failed = true;
        const error = e instanceof Error ? `${e.name}${'code' in e ? ` ${String(e.code)}` : ''}: ${e.stack ?? e.message}` : String(e);
        post({ type: 'failure', target: target.name, kind: 'exception', input: toHex(input), error });
      }
    }
  }
  counts[target.name] = runs;
});
post({ type: 'done', counts });
