// Message digests for SignedData. For large files the digest runs on a worker thread, in parallel with
// the content encryption and the file I/O of the main thread (as `openssl cms -sign | openssl cms
// -encrypt` runs in two processes): chunks are copied into 1 MiB batches whose buffers go to the
// worker and come back (transferred, not copied again, not reallocated), at most four per digest in
// flight. Small messages (receipts) hash inline.

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

// One worker thread for the process, started on first use and shared by concurrent digests (each
// keyed by an id); it keeps the process alive only while a digest is open.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hashes = new Map();
parentPort.on('message', (m) => {
  if (m.start !== undefined) hashes.set(m.id, createHash(m.start));
  else if (m.buffer !== undefined) {
    hashes.get(m.id)?.update(new Uint8Array(m.buffer, 0, m.length));
    parentPort.postMessage({ id: m.id, buffer: m.buffer }, [m.buffer]);
  } else if (m.digest) {
    const hash = hashes.get(m.id);
    hashes.delete(m.id);
    if (hash) parentPort.postMessage({ id: m.id, digest: hash.digest() });
  } else hashes.delete(m.id);
});`;

interface WorkerMessage {
  id: number;
  buffer?: ArrayBuffer;
  digest?: Uint8Array;
}

let shared: { worker: Worker; sessions: Map<number, WorkerDigester> } | undefined;
let nextId = 1;

function sharedWorker(): { worker: Worker; sessions: Map<number, WorkerDigester> } {
  if (shared !== undefined) return shared;
  const worker = new Worker(WORKER_SOURCE, { eval: true });
  const sessions = new Map<number, WorkerDigester>();
  const current = { worker, sessions };
  worker.on('message', (m: WorkerMessage) => sessions.get(m.id)?.receive(m));
  const broken = (error: Error): void => {
    if (shared === current) shared = undefined;
    for (const session of sessions.values()) session.fail(error);
    sessions.clear();
  };
  worker.on('error', broken);
  worker.on('exit', (code) => broken(new Error(`digest worker exited (${code})`)));
  worker.unref(); // refed only while a digest is open (after the listeners, which ref it again)
  shared = current;
  return current;
}

const BATCH = 1 << 20;
const BUFFERS = 4;

class WorkerDigester implements Digester {
  private readonly id = nextId++;
  private readonly worker: Worker;
  private readonly sessions: Map<number, WorkerDigester>;
  private readonly free: ArrayBuffer[] = [];
  private batch: Uint8Array | undefined;
  private filled = 0;
  private failure: Error | undefined;
  private waiter: { resolve: () => void; reject: (e: Error) => void } | undefined;
  private result: { resolve: (d: Uint8Array) => void; reject: (e: Error) => void } | undefined;

  constructor(name: DigestName) {
    const { worker, sessions } = sharedWorker();
    this.worker = worker;
    this.sessions = sessions;
    sessions.set(this.id, this);
    if (sessions.size === 1) worker.ref();
    for (let i = 0; i < BUFFERS; i++) this.free.push(new ArrayBuffer(BATCH));
    worker.postMessage({ id: this.id, start: name });
  }

  receive(m: WorkerMessage): void {
    if (m.buffer !== undefined) {
      this.free.push(m.buffer);
      const w = this.waiter;
      this.waiter = undefined;
      w?.resolve();
    } else if (m.digest !== undefined) {
      this.result?.resolve(new Uint8Array(m.digest));
      this.result = undefined;
    }
  }

  fail(error: Error): void {
    this.failure ??= error;
    this.waiter?.reject(this.failure);
    this.waiter = undefined;
    this.result?.reject(this.failure);
    this.result = undefined;
  }

  private send(): void {
    const batch = this.batch!;
    this.worker.postMessage({ id: this.id, buffer: batch.buffer, length: this.filled }, [batch.buffer as ArrayBuffer]);
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
    this.worker.postMessage({ id: this.id, digest: true });
    return done;
  }

  close(): void {
    if (this.sessions.delete(this.id)) {
      if (this.failure === undefined) this.worker.postMessage({ id: this.id, close: true });
      if (this.sessions.size === 0) this.worker.unref();
    }
    this.failure ??= new Error('digest closed');
  }
}
