// What the fuzz campaign (main thread) and its worker share: the worker's parameters, the layout of the
// shared memory that carries the heartbeat and the current input, and the messages the worker posts.

export interface WorkerData {
  shared: SharedArrayBuffer;
  /** Milliseconds per target. */
  millisPerTarget: number;
  seed: number;
  targets?: string[];
  /** Stop at process RSS above this (MiB): unbounded memory. */
  maxRssMb: number;
}

/** Layout of `shared`: Int32 [heartbeat, target index, input length], then the input octets. */
export const SHARED_HEADER = 12;
export const SHARED_INPUT = 1 << 16;

export type WorkerMessage =
  | { type: 'target'; index: number; name: string }
  | { type: 'failure'; target: string; kind: 'exception' | 'memory'; input: string; error: string }
  | { type: 'done'; counts: Record<string, number> };
