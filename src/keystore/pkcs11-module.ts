// A loaded PKCS#11 module (a vendor's .so), shared by everything in this process that uses the same
// path: a library is initialised once per process (a second C_Initialize answers
// CKR_CRYPTOKI_ALREADY_INITIALIZED), so the store, the CLI and the benchmark all go through here.
//
// Concurrency: pkcs11js runs C_Sign/C_Decrypt/C_GenerateKeyPair on libuv's thread pool when given a
// callback; every other call is synchronous on the event loop (and short on a local token). Native
// operations in flight hold the module "shared"; re-initialising the library (C_Finalize + C_Initialize,
// how a restarted HSM or a re-created SoftHSM token directory is picked up) takes it "exclusive", so no
// thread is inside the library while it is torn down.
import { existsSync, realpathSync } from 'node:fs';
import type { PKCS11 } from 'pkcs11js';
import pkcs11js from 'pkcs11js';
import { ConfigError } from '../errors.ts';

export type Pkcs11Api = PKCS11;
export type Handle = Buffer;
export { pkcs11js };

/** The CKR_… name of a pkcs11js error (`Pkcs11Error.message` is the name), or undefined. */
export function ckrOf(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const match = /^(CKR_[A-Z0-9_]+)/.exec(error.message);
  return match?.[1];
}

/** One line for a log or an error message: the CKR_ name, or the native message. Never holds a PIN. */
export function describeNativeError(error: unknown): string {
  return ckrOf(error) ?? (error instanceof Error ? error.message.split('\n')[0]! : String(error));
}

/** Trims the blank padding PKCS#11 puts in fixed-length strings (labels, serial numbers). */
export function unpad(text: string): string {
  return text.replace(/[\s\0]+$/, '');
}

const registry = new Map<string, Pkcs11Module>();

export class Pkcs11Module {
  readonly path: string;
  readonly api: Pkcs11Api;
  /** Counts C_Initialize calls; a session or object handle from an older generation is void. */
  generation = 0;
  /** False after C_Finalize or a failed C_Initialize: the next user initialises again. */
  initialized = false;
  private refs = 0;
  private owner = true;
  private shared = 0;
  private exclusive: Promise<void> | undefined;
  private drained: (() => void) | undefined;

  private constructor(path: string, api: Pkcs11Api) {
    this.path = path;
    this.api = api;
  }

  /**
   * The module at `path`, loaded (ConfigError when the file is missing or is not a PKCS#11 library);
   * users call ensureInitialized() before use, so a library whose C_Initialize fails now (an HSM not
   * reachable yet) can still be tried later. Each acquire needs a matching release.
   */
  static acquire(path: string): Pkcs11Module {
    if (!existsSync(path)) throw new ConfigError('OFTP_ERR_CONFIG', `PKCS#11 module not found: ${path}`);
    const key = realpathSync(path);
    let module = registry.get(key);
    if (module === undefined) {
      const api = new pkcs11js.PKCS11();
      try {
        api.load(key);
      } catch (error) {
        throw new ConfigError(
          'OFTP_ERR_CONFIG',
          `PKCS#11 module ${path} cannot be loaded: ${describeNativeError(error)}`,
          { cause: error },
        );
      }
      module = new Pkcs11Module(key, api);
      registry.set(key, module);
    }
    module.refs++;
    return module;
  }

  /** The module already loaded from `path`, if any (tests use it to watch calls). */
  static loaded(path: string): Pkcs11Module | undefined {
    return existsSync(path) ? registry.get(realpathSync(path)) : undefined;
  }

  /** C_Initialize when not done yet (after a failure or a re-initialisation). Throws the native error. */
  ensureInitialized(): void {
    if (this.initialized) return;
    try {
      // The library may use OS threads and locks: pkcs11js calls it from libuv's worker threads.
      this.api.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
    } catch (error) {
      const ckr = ckrOf(error);
      if (ckr === 'CKR_CRYPTOKI_ALREADY_INITIALIZED') {
        // Someone else in this process initialised it (another binding): use it, never finalise it.
        this.owner = false;
      } else if (ckr === 'CKR_CANT_LOCK') {
        this.api.C_Initialize();
      } else {
        throw error;
      }
    }
    this.initialized = true;
    this.generation++;
  }

  /** Runs `operation` (a native asynchronous call) while holding the module shared. */
  withShared<T>(operation: () => Promise<T>): Promise<T> {
    if (this.exclusive !== undefined) return this.exclusive.then(() => this.withShared(operation));
    this.shared++;
    let promise: Promise<T>;
    try {
      promise = operation();
    } catch (error) {
      this.leaveShared();
      return Promise.reject(error);
    }
    return promise.finally(() => this.leaveShared());
  }

  private leaveShared(): void {
    this.shared--;
    if (this.shared === 0) this.drained?.();
  }

  /**
   * C_Finalize + C_Initialize, once the operations in flight have finished. `seenGeneration` is the
   * generation the caller found broken: when someone already re-initialised since, nothing is done.
   * Throws the native error of C_Initialize (the module then stays uninitialised).
   */
  async reinitialize(seenGeneration: number): Promise<void> {
    while (this.exclusive !== undefined) await this.exclusive;
    if (this.generation !== seenGeneration && this.initialized) return;
    let done!: () => void;
    this.exclusive = new Promise<void>((resolve) => {
      done = resolve;
    });
    try {
      if (this.shared > 0) {
        await new Promise<void>((resolve) => {
          this.drained = resolve;
        });
        this.drained = undefined;
      }
      if (this.initialized && this.owner) {
        try {
          this.api.C_Finalize();
        } catch {
          // A library that lost its device may refuse to finalise; initialise again all the same.
        }
      }
      this.initialized = false;
      this.owner = true;
      this.ensureInitialized();
    } finally {
      this.exclusive = undefined;
      done();
    }
  }

  /** Drops one reference; the last one finalises and unloads the library. */
  release(): void {
    this.refs--;
    if (this.refs > 0) return;
    registry.delete(this.path);
    if (this.initialized && this.owner) {
      try {
        this.api.C_Finalize();
      } catch {
        // nothing more to do with it
      }
    }
    this.initialized = false;
    try {
      this.api.close();
    } catch {
      // already closed
    }
  }
}

// pkcs11js's callback forms, as promises (its own *Async helpers do the same through util.promisify).

export function signAsync(api: Pkcs11Api, session: Handle, data: Buffer, outLength: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    api.C_Sign(session, data, Buffer.allocUnsafe(outLength), (error, out) => {
      if (error) reject(error);
      else resolve(out);
    });
  });
}

export function decryptAsync(api: Pkcs11Api, session: Handle, data: Buffer, outLength: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    api.C_Decrypt(session, data, Buffer.allocUnsafe(outLength), (error, out) => {
      if (error) reject(error);
      else resolve(out);
    });
  });
}
