// Message digests for SignedData. For large files the digest runs on a worker thread, in parallel with
// the content encryption and the file I/O of the main thread (as `openssl cms -sign | openssl cms
// -encrypt` runs in two processes): chunks are copied into 1 MiB batches whose buffers go to the
// worker and come back (transferred, never copied again, never reallocated), at most four in flight.
// Small messages (receipts) hash inline: a worker costs a few tens of milliseconds to start.

import { createHash, type Hash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { DigestName } from './algorithms.ts';

export interface Digester {
  /** Adds a chunk; when a promise is returned, await it before the next update (backpressure). */
  update(chunk: Uint8Array): Promise<void> | undefined;
  digest(): Promise<Uint8Array>;
  /** Releases the worker (after digest, or on an error). */
  close(): void;
}

export function createDigester(name: DigestName, parallel: boolean): Digester {
  return parallel ? new WorkerDigester(name) : new InlineDigester(name);
}

class InlineDigester implements Digester {
  private readonly hash: Hash;
  constructor(name: DigestName) {
    this.hash = createHash(name);
  }
  update(chunk: Uint8Array): undefined {
    this.hash.update(chunk);
    return undefined;
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  close(): void {}
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const hash = require('node:crypto').createHash(workerData.name);
parentPort.on('message', (m) => {
  if (m.buffer !== undefined) {
    hash.update(new Uint8Array(m.buffer, 0, m.length));
    parentPort.postMessage({ buffer: m.buffer }, [m.buffer]);
  } else {
    parentPort.postMessage({ digest: hash.digest() });
  }
});`;

const BATCH = 1 << 20;
const BUFFERS = 4;

class WorkerDigester implements Digester {
  private readonly worker: Worker;
  private readonly free: ArrayBuffer[] = [];
  private batch: Uint8Array | undefined;
  private filled = 0;
  private failure: Error | undefined;
  private waiter: { resolve: () => void; reject: (e: Error) => void } | undefined;
  private result: { resolve: (d: Uint8Array) => void; reject: (e: Error) => void } | undefined;

  constructor(name: DigestName) {
    for (let i = 0; i < BUFFERS; i++) this.free.push(new ArrayBuffer(BATCH));
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { name } });
    this.worker.unref();
    this.worker.on('message', (m: { buffer?: ArrayBuffer; digest?: Uint8Array }) => {
      if (m.buffer !== undefined) {
        this.free.push(m.buffer);
        const w = this.waiter;
        this.waiter = undefined;
        w?.resolve();
      } else if (m.digest !== undefined) {
        this.result?.resolve(new Uint8Array(m.digest));
      }
    });
    this.worker.on('error', (error: Error) => this.fail(error));
    this.worker.on('exit', () => this.fail(new Error('digest worker exited')));
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.waiter?.reject(this.failure);
    this.waiter = undefined;
    this.result?.reject(this.failure);
    this.result = undefined;
  }

  private send(): void {
    const batch = this.batch!;
    this.worker.postMessage({ buffer: batch.buffer, length: this.filled }, [batch.buffer as ArrayBuffer]);
    this.batch = undefined;
    this.filled = 0;
  }

  update(chunk: Uint8Array): Promise<void> | undefined {
    if (this.failure !== undefined) throw this.failure;
    let at = 0;
    while (at < chunk.length) {
      if (this.batch === undefined) {
        const buffer = this.free.pop();
        if (buffer === undefined) {
          // All buffers are with the worker: wait for one, then take the rest of the chunk.
          const rest = chunk.subarray(at);
          return new Promise<void>((resolve, reject) => {
            this.waiter = { resolve, reject };
          }).then(() => this.update(rest));
        }
        this.batch = new Uint8Array(buffer);
      }
      const n = Math.min(BATCH - this.filled, chunk.length - at);
      this.batch.set(chunk.subarray(at, at + n), this.filled);
      this.filled += n;
      at += n;
      if (this.filled === BATCH) this.send();
    }
    return undefined;
  }

  async digest(): Promise<Uint8Array> {
    if (this.failure !== undefined) throw this.failure;
    if (this.batch !== undefined && this.filled > 0) this.send();
    const done = new Promise<Uint8Array>((resolve, reject) => {
      this.result = { resolve, reject };
    });
    this.worker.postMessage({});
    return done;
  }

  close(): void {
    this.worker.removeAllListeners('exit');
    void this.worker.terminate();
  }
}
