// Pkcs11KeyStore: the station's private keys on an HSM or a smart card, used through a vendor's
// PKCS#11 library (pkcs11js). The key never leaves the token: signing is RSASSA-PKCS1-v1_5 done by the
// token (CKM_SHA1/SHA256/SHA512_RSA_PKCS, or CKM_RSA_PKCS over a DigestInfo made here when the token
// lacks those), decryption is RSAES-PKCS1-v1_5 (CKM_RSA_PKCS).
//
// Sessions: one "control" session, used only synchronously on the event loop (login, object
// searches, health probes), and a small pool of operation sessions (`sessions`, default 2). A PKCS#11
// session runs one operation at a time, so an operation leases a session, runs C_SignInit (sync) and
// C_Sign (on libuv's thread pool, so the event loop never waits for the token), and gives it back;
// callers beyond the pool wait in FIFO order. Login happens once per token (the state is shared by
// every session of the process).
//
// When the token goes away (removed card, restarted HSM: CKR_DEVICE_REMOVED, CKR_TOKEN_NOT_PRESENT,
// CKR_SESSION_HANDLE_INVALID, CKR_USER_NOT_LOGGED_IN, stale object handles…, or an ambiguous
// CKR_GENERAL_ERROR whose health probe fails) the store drops its sessions and reports 'absent' or
// 'error' in status(). The next call reconnects — finds the token again, re-initialising the library
// when the token is not found (a restarted HSM or SoftHSM's re-created token directory is only seen
// after C_Finalize + C_Initialize), logs in, finds the keys — at most once per retry delay (1 s,
// doubling to 30 s while it keeps failing). The first call after a failure retries its operation once
// after reconnecting, so a token that is already back costs the caller nothing.
//
// A refused PIN (CKR_PIN_INCORRECT…) stops at the first failure: status 'locked', and no new C_Login
// until the PIN read from the configured file or variable is a different one — a retry loop would
// lock the card.
//
// TLS with the token key (investigated on this machine, Node 24.21.0 with its bundled OpenSSL 3.5.8,
// Debian 12's libengine-pkcs11-openssl 0.4.12 = libp11, SoftHSM 2.6.1): it does not work, so TLS
// keeps a separate certificate whose key is a file, as OFTP2 allows (the TLS certificate need not be
// the OFTP2 signing/encryption certificate).
//   - `privateKeyEngine: 'pkcs11'` fails: ERR_CRYPTO_ENGINE_UNKNOWN / "DSO support routines::could not
//     load the shared library" — Node's OpenSSL looks in its own compiled-in ENGINESDIR, not Debian's
//     /usr/lib/x86_64-linux-gnu/engines-3.
//   - With the engine's full path (`privateKeyEngine: '/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so'`,
//     `privateKeyIdentifier: 'pkcs11:token=…;object=…;type=private'`) the engine loads (it binds to
//     the OpenSSL 3 symbols Node exports) and tls.createSecureContext() succeeds once (a second context
//     in the same process fails with "engine routines::init failed"). But every handshake then fails
//     on the server: TLS 1.3 "tls_choose_sigalg: no suitable signature algorithm", TLS 1.2 "no shared
//     cipher" — for ECDHE-RSA, RSA-PSS, PKCS#1 sigalgs and even plain RSA key exchange (AES128-SHA256),
//     i.e. OpenSSL 3.5 does not consider the engine's key (a legacy RSA key with libp11's RSA_METHOD)
//     usable for the certificate at all.
//   - The same engine, key URI and certificate work with Debian's own `openssl s_server` (OpenSSL
//     3.0.19) for TLS 1.2 and 1.3, so the token, libp11 and the certificate are fine: the break is
//     libp11 0.4.12's legacy engine key inside Node's OpenSSL 3.5 build.
//   - An OpenSSL 3 provider (pkcs11-provider) is not packaged in Debian 12, and Node has no API to
//     load a key by provider/store URI nor a TLS signing callback, so no other way is open.
// (Reproduce: apt-get install libengine-pkcs11-openssl; see the report of issue 5.)
import { createPublicKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.ts';
import type { HashAlgorithm, KeyStore, PrivateKeyHandle } from './key-store.ts';
import {
  DEFAULT_MIN_MODULUS_BITS,
  DEFAULT_SESSIONS,
  describePinSource,
  describeToken,
  normaliseHexId,
  type Pkcs11KeyConfig,
  type Pkcs11StoreConfig,
  pinFingerprint,
  readPin,
} from './pkcs11-config.ts';
import { digestInfo } from './pkcs11-digest-info.ts';
import {
  ABSENT_ERRORS,
  BROKEN_ERRORS,
  KeyUnavailableError,
  PIN_ERRORS,
  Pkcs11OperationError,
  type Pkcs11State,
  type Pkcs11Status,
} from './pkcs11-errors.ts';
import {
  ckrOf,
  decryptAsync,
  describeNativeError,
  type Handle,
  type Pkcs11Api,
  Pkcs11Module,
  pkcs11js,
  signAsync,
  unpad,
} from './pkcs11-module.ts';

export { KeyUnavailableError, Pkcs11OperationError, type Pkcs11State, type Pkcs11Status } from './pkcs11-errors.ts';
export { type Pkcs11KeyConfig, type Pkcs11StoreConfig, parsePkcs11Config } from './pkcs11-config.ts';

export interface Pkcs11StoreOptions {
  /** Where `pin.env` is read (default process.env). */
  env?: NodeJS.ProcessEnv;
  /**
   * false: open() succeeds when the token is not there yet (status 'absent', found on a later call).
   * Default true: a missing token is a ConfigError naming it.
   */
  requireToken?: boolean;
  /** Called on every state change (for the station's log); the status never holds a PIN. */
  onStatus?: (status: Pkcs11Status) => void;
  /** Clock, for tests. */
  now?: () => number;
}

const COMBINED: Readonly<Record<HashAlgorithm, { name: string; value: number }>> = {
  sha1: { name: 'CKM_SHA1_RSA_PKCS', value: pkcs11js.CKM_SHA1_RSA_PKCS },
  sha256: { name: 'CKM_SHA256_RSA_PKCS', value: pkcs11js.CKM_SHA256_RSA_PKCS },
  sha512: { name: 'CKM_SHA512_RSA_PKCS', value: pkcs11js.CKM_SHA512_RSA_PKCS },
};
const HASHES: readonly HashAlgorithm[] = ['sha1', 'sha256', 'sha512'];
// CK_STATE values (PKCS#11 2.40 §5.6) of a logged-in user session; pkcs11js's typings omit them.
const CKS_RO_USER_FUNCTIONS = 1;
const CKS_RW_USER_FUNCTIONS = 3;

interface Connection {
  readonly epoch: number;
  readonly moduleGeneration: number;
  readonly slot: Handle;
  /** Used only synchronously on the event loop: login, searches, probes. */
  readonly control: Handle;
  /** Hashes the token signs with a combined CKM_SHAxxx_RSA_PKCS mechanism. */
  readonly combined: ReadonlySet<HashAlgorithm>;
  readonly hasRsaPkcs: boolean;
  readonly loginRequired: boolean;
  readonly free: Handle[];
  readonly open: Set<Handle>;
  readonly waiters: Array<(session: Handle | undefined) => void>;
  retired: boolean;
}

interface KeyEntry {
  readonly name: string;
  readonly config: Pkcs11KeyConfig;
  handle: Handle;
  epoch: number;
  idHex: string;
  label: string;
  modulusBits: number;
  certificate: Uint8Array | undefined;
  publicKey: KeyObject;
}

/** Thrown inside connect() for "token not there": absent state, or ConfigError on the first open. */
class TokenMissing extends Error {}

export class Pkcs11KeyStore implements KeyStore {
  readonly config: Pkcs11StoreConfig;
  private readonly module: Pkcs11Module;
  private readonly api: Pkcs11Api;
  private readonly options: Pkcs11StoreOptions;
  private readonly now: () => number;
  private readonly poolSize: number;
  private readonly minBits: number;
  private readonly minDelay: number;
  private readonly maxDelay: number;
  private conn: Connection | undefined;
  private connecting: Promise<Connection> | undefined;
  private epochs = 0;
  private everReady = false;
  private current: Pkcs11Status;
  private delay: number;
  private nextAttemptAt = 0;
  private lastConnectAt = Number.NEGATIVE_INFINITY;
  private refusedPin: string | undefined;
  private readonly entries = new Map<string, KeyEntry>();
  private readonly inflight = new Set<Promise<unknown>>();

  private constructor(config: Pkcs11StoreConfig, module: Pkcs11Module, options: Pkcs11StoreOptions) {
    this.config = config;
    this.module = module;
    this.api = module.api;
    this.options = options;
    this.now = options.now ?? Date.now;
    this.poolSize = config.sessions ?? DEFAULT_SESSIONS;
    this.minBits = config.minModulusBits ?? DEFAULT_MIN_MODULUS_BITS;
    this.minDelay = config.retry?.minDelayMs ?? 1000;
    this.maxDelay = Math.max(this.minDelay, config.retry?.maxDelayMs ?? 30_000);
    this.delay = this.minDelay;
    this.current = {
      state: 'absent',
      detail: 'not connected yet',
      token: describeToken(config.token),
      since: new Date(this.now()),
    };
  }

  /**
   * Loads the module, finds the token and logs in. ConfigError when the module or the token is
   * missing (unless requireToken is false) or the PIN is refused.
   */
  static async open(config: Pkcs11StoreConfig, options: Pkcs11StoreOptions = {}): Promise<Pkcs11KeyStore> {
    const module = Pkcs11Module.acquire(config.module);
    const store = new Pkcs11KeyStore(config, module, options);
    try {
      await store.ready();
    } catch (error) {
      if (!(error instanceof KeyUnavailableError && options.requireToken === false)) {
        await store.close();
        throw error;
      }
    }
    return store;
  }

  /** The state of the token now; cheap, makes no PKCS#11 call. */
  status(): Pkcs11Status {
    return { ...this.current };
  }

  /** Opens the key `name` (from config.keys, or the CKA_LABEL `name` when there is no map). */
  async key(name: string): Promise<Pkcs11Key> {
    const config = this.keyConfig(name);
    let entry = this.entries.get(name);
    if (entry === undefined) {
      const conn = await this.ready();
      try {
        entry = this.findKey(name, config, conn);
      } catch (error) {
        if (error instanceof ConfigError) throw error;
        this.markBroken(conn, error, 'C_FindObjects');
        throw new KeyUnavailableError(this.status(), { cause: error });
      }
      this.entries.set(name, entry);
    }
    return new Pkcs11Key(this, entry);
  }

  async close(): Promise<void> {
    if (this.current.state === 'closed') return;
    this.setState('closed', 'closed');
    await Promise.allSettled([...this.inflight]);
    if (this.conn !== undefined) this.retire(this.conn);
    this.conn = undefined;
    this.module.release();
  }

  /** Which mechanism sign(hash) uses now (for tests and `oftp2 keys`). */
  signMechanism(hash: HashAlgorithm): string {
    const conn = this.conn;
    if (conn !== undefined && this.config.signMechanism !== 'rsa-pkcs' && conn.combined.has(hash)) {
      return COMBINED[hash].name;
    }
    return 'CKM_RSA_PKCS';
  }

  // ---- operations -------------------------------------------------------------------------------

  /** @internal Pkcs11Key.sign */
  sign(entry: KeyEntry, hash: HashAlgorithm, data: Uint8Array): Promise<Uint8Array> {
    if (COMBINED[hash] === undefined) throw new Pkcs11OperationError(`unsupported hash ${String(hash)}`, undefined);
    this.checkStrength(entry);
    const input = Buffer.from(data);
    return this.run(entry, 'C_Sign', (conn, session, key) => {
      const outLength = Math.ceil(entry.modulusBits / 8);
      if (this.config.signMechanism !== 'rsa-pkcs' && conn.combined.has(hash)) {
        this.api.C_SignInit(session, { mechanism: COMBINED[hash].value }, key);
        return signAsync(this.api, session, input, outLength);
      }
      if (!conn.hasRsaPkcs) {
        throw new Pkcs11OperationError(`the token has neither ${COMBINED[hash].name} nor CKM_RSA_PKCS`, 'CKR_MECHANISM_INVALID');
      }
      this.api.C_SignInit(session, { mechanism: pkcs11js.CKM_RSA_PKCS }, key);
      return signAsync(this.api, session, digestInfo(hash, input), outLength);
    });
  }

  /** @internal Pkcs11Key.decrypt */
  decrypt(entry: KeyEntry, ciphertext: Uint8Array): Promise<Uint8Array> {
    this.checkStrength(entry);
    const bytes = Math.ceil(entry.modulusBits / 8);
    if (ciphertext.length !== bytes) {
      // Checked here: some tokens answer a wrong length with CKR_GENERAL_ERROR, which looks like a broken device.
      return Promise.reject(
        new Pkcs11OperationError(`ciphertext is ${ciphertext.length} octets, the ${entry.modulusBits}-bit key needs ${bytes}`, 'CKR_ENCRYPTED_DATA_LEN_RANGE'),
      );
    }
    const input = Buffer.from(ciphertext);
    return this.run(entry, 'C_Decrypt', (_conn, session, key) => {
      this.api.C_DecryptInit(session, { mechanism: pkcs11js.CKM_RSA_PKCS }, key);
      return decryptAsync(this.api, session, input, bytes);
    });
  }

  /** @internal the weak-key check behind sign/decrypt */
  checkStrength(entry: KeyEntry, minBits = this.minBits): void {
    if (entry.modulusBits < minBits) {
      throw new ConfigError(
        'OFTP_ERR_CONFIG',
        `PKCS#11 key "${entry.name}" on ${describeToken(this.config.token)} is RSA-${entry.modulusBits}; at least ${minBits} bits are required`,
      );
    }
  }

  private run<T>(entry: KeyEntry, fn: string, op: (conn: Connection, session: Handle, key: Handle) => Promise<T>): Promise<T> {
    const promise = this.runLoop(entry, fn, op);
    this.inflight.add(promise);
    const forget = () => this.inflight.delete(promise);
    promise.then(forget, forget);
    return promise;
  }

  private async runLoop<T>(entry: KeyEntry, fn: string, op: (conn: Connection, session: Handle, key: Handle) => Promise<T>): Promise<T> {
    let retried = false;
    for (let round = 0; ; round++) {
      // Fast path without awaiting when the connection is up and a session is free.
      const conn = this.liveConnection() ?? (await this.ready());
      let session: Handle | undefined;
      let failed = false;
      try {
        const key = this.keyHandle(entry, conn);
        session = this.leaseNow(conn) ?? (await this.waitForSession(conn));
        if (session === undefined) {
          // The connection was dropped while we waited for a session: start again on the new one.
          if (round < 3) continue;
          throw new KeyUnavailableError(this.status());
        }
        const leased = session;
        return await this.module.withShared(() => op(conn, leased, key));
      } catch (error) {
        failed = true;
        if (error instanceof ConfigError || error instanceof KeyUnavailableError || error instanceof Pkcs11OperationError) throw error;
        const ckr = ckrOf(error);
        if (ckr !== undefined && PIN_ERRORS.has(ckr)) {
          this.lock(ckr, this.currentPinFingerprint());
          this.markBroken(conn, error, fn, false);
          throw this.lockedError(error);
        }
        if (!this.isBroken(error, conn)) {
          throw new Pkcs11OperationError(`${fn} with PKCS#11 key "${entry.name}" failed: ${describeNativeError(error)}`, ckr, { cause: error });
        }
        this.markBroken(conn, error, fn);
        if (!retried && this.now() >= this.nextAttemptAt) {
          retried = true;
          continue;
        }
        throw new KeyUnavailableError(this.status(), { cause: error });
      } finally {
        if (session !== undefined) this.giveBack(conn, session, failed);
      }
    }
  }

  /** An error from an operation: did the token, the session or the login go away? */
  private isBroken(error: unknown, conn: Connection): boolean {
    if (conn.retired || conn.moduleGeneration !== this.module.generation || !this.module.initialized) return true;
    const ckr = ckrOf(error);
    if (ckr !== undefined && BROKEN_ERRORS.has(ckr)) return true;
    // Ambiguous (CKR_GENERAL_ERROR, CKR_FUNCTION_FAILED, a native error): ask the token whether it
    // and our login are still there.
    try {
      this.api.C_GetTokenInfo(conn.slot);
      const info = this.api.C_GetSessionInfo(conn.control);
      return conn.loginRequired && info.state !== CKS_RO_USER_FUNCTIONS && info.state !== CKS_RW_USER_FUNCTIONS;
    } catch {
      return true;
    }
  }

  // ---- sessions -----------------------------------------------------------------------------------

  /** A free session, or a new one while the pool is not full; undefined when all are busy. */
  private leaseNow(conn: Connection): Handle | undefined {
    const free = conn.free.pop();
    if (free !== undefined) return free;
    if (conn.open.size < this.poolSize) {
      const session = this.api.C_OpenSession(conn.slot, pkcs11js.CKF_SERIAL_SESSION);
      conn.open.add(session);
      return session;
    }
    return undefined;
  }

  /** The next session given back (FIFO); undefined when the connection is dropped meanwhile. */
  private waitForSession(conn: Connection): Promise<Handle | undefined> {
    return new Promise((resolve) => conn.waiters.push(resolve));
  }

  private giveBack(conn: Connection, session: Handle, failed: boolean): void {
    if (conn.retired || failed) {
      // A failed operation may leave the session in an odd state: close it, open a fresh one on demand.
      conn.open.delete(session);
      closeQuietly(this.api, session);
      if (conn.retired) return;
      const waiter = conn.waiters.shift();
      if (waiter === undefined) return;
      try {
        const fresh = this.api.C_OpenSession(conn.slot, pkcs11js.CKF_SERIAL_SESSION);
        conn.open.add(fresh);
        waiter(fresh);
      } catch {
        waiter(undefined);
      }
      return;
    }
    const waiter = conn.waiters.shift();
    if (waiter !== undefined) waiter(session);
    else conn.free.push(session);
  }

  /** Drops a connection: no new leases, waiters start again, idle sessions closed now, busy ones on return. */
  private retire(conn: Connection): void {
    if (conn.retired) return;
    conn.retired = true;
    for (const waiter of conn.waiters.splice(0)) waiter(undefined);
    for (const session of conn.free.splice(0)) {
      conn.open.delete(session);
      closeQuietly(this.api, session);
    }
    closeQuietly(this.api, conn.control);
  }

  // ---- connection, login, recovery ----------------------------------------------------------------

  /** The connection when it is up and current, without waiting. */
  private liveConnection(): Connection | undefined {
    const conn = this.conn;
    return conn !== undefined && !conn.retired && conn.moduleGeneration === this.module.generation && this.module.initialized ? conn : undefined;
  }

  /** The live connection, or a reconnection when allowed now; otherwise the error that says why not. */
  private async ready(): Promise<Connection> {
    const live = this.liveConnection();
    if (live !== undefined) return live;
    const conn = this.conn;
    if (conn !== undefined) {
      // Another user of the module re-initialised it: our handles are void, reconnect at once.
      this.retire(conn);
      this.conn = undefined;
    }
    if (this.connecting !== undefined) return this.connecting;
    const state = this.current.state;
    if (state === 'closed') throw new KeyUnavailableError(this.status());
    if (state === 'locked') {
      // Only a different PIN gets a new attempt (readPin throws a ConfigError when the source is gone).
      if (this.refusedPin !== undefined && pinFingerprint(readPin(this.config.pin, this.options.env)) === this.refusedPin) {
        throw this.lockedError(undefined);
      }
    } else if (this.now() < this.nextAttemptAt) {
      throw new KeyUnavailableError(this.status());
    }
    this.connecting = this.connectOnce().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connectOnce(): Promise<Connection> {
    this.lastConnectAt = this.now();
    try {
      const conn = await this.connect();
      this.conn = conn;
      this.everReady = true;
      this.delay = this.minDelay;
      this.nextAttemptAt = 0;
      this.setState('ready', `logged in; ${this.describeMechanisms(conn)}`);
      return conn;
    } catch (error) {
      if (error instanceof ConfigError) {
        // A locked store waits for a new PIN instead; anything else (a PIN file gone…) is retried later.
        if (this.current.state !== 'locked') {
          this.nextAttemptAt = this.now() + this.delay;
          this.delay = Math.min(this.delay * 2, this.maxDelay);
          this.setState('error', error.message);
        }
        throw error;
      }
      const ckr = error instanceof TokenMissing ? undefined : ckrOf(error);
      const missing = error instanceof TokenMissing || (ckr !== undefined && ABSENT_ERRORS.has(ckr));
      const detail = error instanceof TokenMissing ? error.message : `${describeNativeError(error)} while connecting`;
      this.nextAttemptAt = this.now() + this.delay;
      this.delay = Math.min(this.delay * 2, this.maxDelay);
      this.setState(missing ? 'absent' : 'error', detail, ckr);
      if (!this.everReady && this.options.requireToken !== false && error instanceof TokenMissing) {
        throw new ConfigError('OFTP_ERR_CONFIG', error.message, { cause: error });
      }
      throw new KeyUnavailableError(this.status(), { cause: error });
    }
  }

  private async connect(): Promise<Connection> {
    // First with the library as it is; when the token is not found or does not answer, once more after
    // C_Finalize + C_Initialize (how a restarted HSM or re-created token store becomes visible).
    let slot: Handle;
    try {
      this.module.ensureInitialized();
      slot = this.findSlot();
    } catch (first) {
      if (first instanceof ConfigError) throw first;
      // Not on the first open with requireToken: a wrong label should not disturb other users of the
      // module, and the library was just initialised anyway.
      if (!this.everReady && this.options.requireToken !== false) throw this.unreachable(first);
      try {
        await this.module.reinitialize(this.module.generation);
        slot = this.findSlot();
      } catch (second) {
        throw this.unreachable(second);
      }
    }
    const api = this.api;
    const info = api.C_GetTokenInfo(slot);
    if ((info.flags & pkcs11js.CKF_USER_PIN_LOCKED) !== 0) {
      this.lock('CKR_PIN_LOCKED', this.currentPinFingerprint());
      throw this.lockedError(undefined);
    }
    const mechanisms = new Set(api.C_GetMechanismList(slot));
    const combined = new Set(HASHES.filter((hash) => mechanisms.has(COMBINED[hash].value)));
    const control = api.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
    try {
      if ((info.flags & pkcs11js.CKF_LOGIN_REQUIRED) !== 0) this.login(control);
    } catch (error) {
      closeQuietly(api, control);
      throw error;
    }
    return {
      epoch: ++this.epochs,
      moduleGeneration: this.module.generation,
      slot,
      control,
      combined,
      hasRsaPkcs: mechanisms.has(pkcs11js.CKM_RSA_PKCS),
      loginRequired: (info.flags & pkcs11js.CKF_LOGIN_REQUIRED) !== 0,
      free: [],
      open: new Set(),
      waiters: [],
      retired: false,
    };
  }

  /** A failure to find the token (library, slot list, token info) as TokenMissing: the token is absent. */
  private unreachable(error: unknown): TokenMissing {
    if (error instanceof TokenMissing) return error;
    const method = (error as { method?: unknown }).method;
    const where = typeof method === 'string' && method !== '' ? ` from ${method}` : '';
    return new TokenMissing(`${describeToken(this.config.token)} not reachable: ${describeNativeError(error)}${where} (${this.config.module})`, {
      cause: error,
    });
  }

  /**
   * The slot holding the configured token; TokenMissing naming what is there instead, or the native
   * error of a slot that did not answer (the caller may re-initialise the library and look again).
   */
  private findSlot(): Handle {
    const wanted = this.config.token;
    const seen: string[] = [];
    let trouble: unknown;
    for (const slot of this.api.C_GetSlotList(true)) {
      let info: ReturnType<Pkcs11Api['C_GetTokenInfo']>;
      try {
        info = this.api.C_GetTokenInfo(slot);
      } catch (error) {
        trouble ??= error;
        continue;
      }
      if ((info.flags & pkcs11js.CKF_TOKEN_INITIALIZED) === 0) continue;
      const label = unpad(info.label);
      const serial = unpad(info.serialNumber);
      seen.push(`"${label}" (serial ${serial})`);
      if (wanted.label !== undefined && wanted.label !== label) continue;
      if (wanted.serial !== undefined && wanted.serial !== serial) continue;
      return slot;
    }
    if (trouble !== undefined) throw trouble;
    throw new TokenMissing(
      `${describeToken(wanted)} not present in ${this.config.module} (tokens present: ${seen.length > 0 ? seen.join(', ') : 'none'})`,
    );
  }

  /** One C_Login with the PIN read now; a refusal locks the store (never a second try with it). */
  private login(control: Handle): void {
    const pin = readPin(this.config.pin, this.options.env);
    try {
      this.api.C_Login(control, pkcs11js.CKU_USER, pin);
      this.refusedPin = undefined;
    } catch (error) {
      const ckr = ckrOf(error);
      if (ckr === 'CKR_USER_ALREADY_LOGGED_IN') return;
      if (ckr !== undefined && PIN_ERRORS.has(ckr)) {
        this.lock(ckr, pinFingerprint(pin));
        throw this.lockedError(error);
      }
      throw error;
    }
  }

  /** The fingerprint of the PIN as its source holds it now ('unreadable' when it cannot be read). */
  private currentPinFingerprint(): string {
    try {
      return pinFingerprint(readPin(this.config.pin, this.options.env));
    } catch {
      return 'unreadable';
    }
  }

  private lock(ckr: string, fingerprint: string): void {
    this.refusedPin = fingerprint;
    const what =
      ckr === 'CKR_PIN_LOCKED'
        ? 'PIN locked on the token (unblock it with the SO PIN)'
        : ckr === 'CKR_PIN_EXPIRED'
          ? 'PIN expired (change it on the token)'
          : 'wrong PIN';
    this.setState('locked', `${what}; no new login until the PIN (${describePinSource(this.config.pin)}) changes`, ckr);
  }

  private lockedError(cause: unknown): ConfigError {
    return new ConfigError('OFTP_ERR_CONFIG', `PKCS#11 ${this.current.token}: ${this.current.detail}`, cause === undefined ? undefined : { cause });
  }

  /** An operation saw the token go away: drop the connection; the next call reconnects (rate-bounded). */
  private markBroken(conn: Connection, error: unknown, fn: string, report = true): void {
    if (this.conn === conn) {
      this.conn = undefined;
      this.retire(conn);
      if (!report) return;
      const ckr = ckrOf(error);
      const state = ckr !== undefined && ABSENT_ERRORS.has(ckr) ? 'absent' : 'error';
      // At most one reconnection per minimum delay, however often the token breaks.
      this.nextAttemptAt = Math.max(this.nextAttemptAt, this.lastConnectAt + this.minDelay);
      this.setState(state, `${describeNativeError(error)} from ${fn}; reconnecting on the next call`, ckr);
    } else {
      this.retire(conn);
    }
  }

  private setState(state: Pkcs11State, detail: string, ckr?: string): void {
    const since = state === this.current.state ? this.current.since : new Date(this.now());
    const next: Pkcs11Status = { state, detail, token: describeToken(this.config.token), since };
    if (ckr !== undefined) next.ckr = ckr;
    if ((state === 'absent' || state === 'error') && this.nextAttemptAt > 0) next.nextAttemptAt = new Date(this.nextAttemptAt);
    const changed = next.state !== this.current.state || next.detail !== this.current.detail;
    this.current = next;
    if (changed) this.options.onStatus?.({ ...next });
  }

  private describeMechanisms(conn: Connection): string {
    if (this.config.signMechanism === 'rsa-pkcs') return 'signing with CKM_RSA_PKCS + DigestInfo (configured)';
    const missing = HASHES.filter((h) => !conn.combined.has(h));
    return missing.length === 0 ? 'signing with CKM_SHAxxx_RSA_PKCS' : `CKM_RSA_PKCS + DigestInfo for ${missing.join(', ')}`;
  }

  // ---- keys -------------------------------------------------------------------------------------

  private keyConfig(name: string): Pkcs11KeyConfig {
    if (this.config.keys === undefined) return { label: name };
    const config = this.config.keys[name];
    if (config === undefined) {
      throw new ConfigError('OFTP_ERR_CONFIG', `no PKCS#11 key "${name}" in the configuration (keys: ${Object.keys(this.config.keys).join(', ') || 'none'})`);
    }
    return config;
  }

  /** The key's object handle on this connection (found again after a reconnection). */
  private keyHandle(entry: KeyEntry, conn: Connection): Handle {
    if (entry.epoch !== conn.epoch) {
      const fresh = this.findKey(entry.name, entry.config, conn);
      entry.handle = fresh.handle;
      entry.epoch = fresh.epoch;
      entry.modulusBits = fresh.modulusBits;
      entry.certificate = fresh.certificate;
      entry.idHex = fresh.idHex;
      entry.label = fresh.label;
      entry.publicKey = fresh.publicKey;
    }
    return entry.handle;
  }

  private findKey(name: string, config: Pkcs11KeyConfig, conn: Connection): KeyEntry {
    const api = this.api;
    const template: Array<{ type: number; value?: number | Buffer | string | boolean }> = [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
    ];
    if (config.label !== undefined) template.push({ type: pkcs11js.CKA_LABEL, value: config.label });
    if (config.id !== undefined) template.push({ type: pkcs11js.CKA_ID, value: Buffer.from(normaliseHexId(config.id, `key ${name} id`), 'hex') });
    const found = findObjects(api, conn.control, template, 2);
    const what = `PKCS#11 key "${name}" (${describeKeySelector(config)})`;
    if (found.length === 0) throw new ConfigError('OFTP_ERR_CONFIG', `${what} not found on ${describeToken(this.config.token)}`);
    if (found.length > 1) throw new ConfigError('OFTP_ERR_CONFIG', `${what} is ambiguous on ${describeToken(this.config.token)}: give the key's id too`);
    const handle = found[0]!;
    const attrs = api.C_GetAttributeValue(conn.control, handle, [
      { type: pkcs11js.CKA_KEY_TYPE },
      { type: pkcs11js.CKA_ID },
      { type: pkcs11js.CKA_LABEL },
    ]);
    const keyType = (attrs[0]!.value as Buffer).readUIntLE(0, Math.min(6, (attrs[0]!.value as Buffer).length));
    if (keyType !== pkcs11js.CKK_RSA) throw new ConfigError('OFTP_ERR_CONFIG', `${what} is not an RSA key`);
    const id = (attrs[1]!.value as Buffer | undefined) ?? Buffer.alloc(0);
    const label = (attrs[2]!.value as Buffer | undefined)?.toString('utf8') ?? '';
    const { modulus, exponent } = this.publicPartsOf(conn, handle, id);
    const modulusBits = bitLength(modulus);
    const certificate = this.certificateFor(name, config, conn, id, modulus);
    const publicKey = createPublicKey({
      key: { kty: 'RSA', n: stripZeros(modulus).toString('base64url'), e: stripZeros(exponent).toString('base64url') },
      format: 'jwk',
    });
    return { name, config, handle, epoch: conn.epoch, idHex: id.toString('hex'), label, modulusBits, certificate, publicKey };
  }

  /** CKA_MODULUS and CKA_PUBLIC_EXPONENT of the private key, or of the public key with the same CKA_ID. */
  private publicPartsOf(conn: Connection, handle: Handle, id: Buffer): { modulus: Buffer; exponent: Buffer } {
    const read = (object: Handle) => {
      try {
        const [n, e] = this.api.C_GetAttributeValue(conn.control, object, [
          { type: pkcs11js.CKA_MODULUS },
          { type: pkcs11js.CKA_PUBLIC_EXPONENT },
        ]);
        if (n?.value instanceof Buffer && n.value.length > 0 && e?.value instanceof Buffer && e.value.length > 0) {
          return { modulus: n.value, exponent: e.value };
        }
      } catch {
        // CKR_ATTRIBUTE_SENSITIVE on some tokens: look at the public key
      }
      return undefined;
    };
    const own = read(handle);
    if (own !== undefined) return own;
    const [pub] = id.length === 0 ? [] : findObjects(this.api, conn.control, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
      { type: pkcs11js.CKA_ID, value: id },
    ], 1);
    const parts = pub === undefined ? undefined : read(pub);
    if (parts !== undefined) return parts;
    throw new ConfigError('OFTP_ERR_CONFIG', `cannot read the public part of the PKCS#11 key with id ${id.toString('hex')}`);
  }

  private certificateFor(name: string, config: Pkcs11KeyConfig, conn: Connection, id: Buffer, modulus: Buffer): Uint8Array | undefined {
    let der: Buffer | undefined;
    let from: string;
    if (config.certificateFile !== undefined) {
      from = config.certificateFile;
      try {
        der = toDer(readFileSync(config.certificateFile));
      } catch (error) {
        throw new ConfigError('OFTP_ERR_CONFIG', `certificate file for PKCS#11 key "${name}": ${(error as Error).message}`, { cause: error });
      }
    } else {
      from = `the token's certificate with id ${id.toString('hex')}`;
      if (id.length === 0) return undefined;
      const [cert] = findObjects(this.api, conn.control, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_CERTIFICATE },
        { type: pkcs11js.CKA_ID, value: id },
      ], 1);
      if (cert === undefined) return undefined;
      const [value] = this.api.C_GetAttributeValue(conn.control, cert, [{ type: pkcs11js.CKA_VALUE }]);
      der = value?.value as Buffer | undefined;
      if (der === undefined) return undefined;
    }
    let n: Buffer;
    try {
      const jwk = new X509Certificate(der).publicKey.export({ format: 'jwk' });
      n = Buffer.from(jwk.n ?? '', 'base64url');
    } catch (error) {
      throw new ConfigError('OFTP_ERR_CONFIG', `${from} is not an RSA X.509 certificate`, { cause: error });
    }
    if (!stripZeros(n).equals(stripZeros(modulus))) {
      throw new ConfigError('OFTP_ERR_CONFIG', `${from} does not match PKCS#11 key "${name}" (different public key)`);
    }
    return new Uint8Array(der);
  }
}

/** A key on the token, as the rest of the station sees every private key. */
export class Pkcs11Key implements PrivateKeyHandle {
  private readonly store: Pkcs11KeyStore;
  private readonly entry: KeyEntry;

  /** @internal made by Pkcs11KeyStore.key() */
  constructor(store: Pkcs11KeyStore, entry: KeyEntry) {
    this.store = store;
    this.entry = entry;
  }

  /** RFC 7512 URI of the key (no PIN): pkcs11:token=…;object=…;id=%01 */
  get id(): string {
    const token = this.store.config.token;
    const parts = ['pkcs11:'];
    const attrs: string[] = [];
    if (token.label !== undefined) attrs.push(`token=${encodeURIComponent(token.label)}`);
    if (token.serial !== undefined) attrs.push(`serial=${encodeURIComponent(token.serial)}`);
    if (this.entry.label !== '') attrs.push(`object=${encodeURIComponent(this.entry.label)}`);
    if (this.entry.idHex !== '') attrs.push(`id=${this.entry.idHex.replace(/(..)/g, '%$1')}`);
    return parts[0] + attrs.join(';');
  }

  get certificate(): Uint8Array | undefined {
    return this.entry.certificate;
  }

  get modulusBits(): number {
    return this.entry.modulusBits;
  }

  /** The public key (from the token's modulus and exponent), e.g. for a CSR or to verify. */
  get publicKey(): KeyObject {
    return this.entry.publicKey;
  }

  /** CKA_ID, hex. */
  get keyId(): string {
    return this.entry.idHex;
  }

  sign(hash: HashAlgorithm, data: Uint8Array): Promise<Uint8Array> {
    try {
      return this.store.sign(this.entry, hash, data);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  decrypt(ciphertext: Uint8Array): Promise<Uint8Array> {
    try {
      return this.store.decrypt(this.entry, ciphertext);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Throws a ConfigError when the key is weaker than `minBits` (e.g. a cipher suite's minimum). */
  requireModulusBits(minBits: number): void {
    this.store.checkStrength(this.entry, minBits);
  }
}

/**
 * Any store's key against a minimum size, e.g. before offering a cipher suite: a ConfigError naming
 * the key and both sizes.
 */
export function checkKeyStrength(handle: PrivateKeyHandle, minBits = DEFAULT_MIN_MODULUS_BITS): void {
  if (handle.modulusBits < minBits) {
    throw new ConfigError('OFTP_ERR_CONFIG', `key ${handle.id} is RSA-${handle.modulusBits}; at least ${minBits} bits are required`);
  }
}

// ---- helpers ----------------------------------------------------------------------------------------

export function findObjects(
  api: Pkcs11Api,
  session: Handle,
  template: Array<{ type: number; value?: number | Buffer | string | boolean }>,
  max: number,
): Handle[] {
  api.C_FindObjectsInit(session, template);
  try {
    return api.C_FindObjects(session, max);
  } finally {
    api.C_FindObjectsFinal(session);
  }
}

function closeQuietly(api: Pkcs11Api, session: Handle): void {
  try {
    api.C_CloseSession(session);
  } catch {
    // the token or the library is gone already
  }
}

function describeKeySelector(config: Pkcs11KeyConfig): string {
  const parts: string[] = [];
  if (config.label !== undefined) parts.push(`label "${config.label}"`);
  if (config.id !== undefined) parts.push(`id ${config.id}`);
  return parts.join(', ');
}

function stripZeros(buffer: Buffer): Buffer {
  let i = 0;
  while (i < buffer.length - 1 && buffer[i] === 0) i++;
  return buffer.subarray(i);
}

function bitLength(modulus: Buffer): number {
  const m = stripZeros(modulus);
  return (m.length - 1) * 8 + (32 - Math.clz32(m[0]!));
}

/** DER from a DER or PEM certificate file. */
export function toDer(data: Buffer): Buffer {
  const text = data.toString('latin1');
  const match = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(text);
  return match ? Buffer.from(match[1]!.replace(/\s+/g, ''), 'base64') : data;
}
