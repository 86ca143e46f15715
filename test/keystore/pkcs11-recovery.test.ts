// Pkcs11KeyStore when things go wrong at run time, on a real SoftHSM2 token: a wrong PIN is tried
// once and never again until the PIN changes; a token that disappears (SoftHSM's token directory
// moved away, the closest thing to pulling the card or stopping the HSM) is reported and recovered
// from when it comes back, without a new store.
import assert from 'node:assert/strict';
import { constants, verify } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError } from '../../src/errors.ts';
import { KeyUnavailableError, Pkcs11KeyStore, Pkcs11OperationError, type Pkcs11Status, type Pkcs11StoreConfig } from '../../src/keystore/pkcs11-key-store.ts';
import { Pkcs11Module, pkcs11js } from '../../src/keystore/pkcs11-module.ts';
import { createSoftHsm, type SoftHsm, softHsmMissing, USER_PIN } from './helpers/softhsm.ts';

const skip = softHsmMissing();

describe('Pkcs11KeyStore recovery on SoftHSM', { skip }, () => {
  let hsm: SoftHsm;
  let config: Pkcs11StoreConfig;

  before(() => {
    hsm = createSoftHsm();
    hsm.initToken('oftp');
    hsm.keyPair('oftp', { label: 'sign', id: '01' });
    config = {
      module: hsm.module,
      token: { label: 'oftp' },
      pin: { file: hsm.pinFile(USER_PIN) },
      retry: { minDelayMs: 100, maxDelayMs: 400 },
    };
  });
  after(() => hsm?.cleanup());

  /** Counts C_Login calls on the shared module (the store uses the same loaded library). */
  function watchLogins(module: Pkcs11Module): { count: () => number; restore: () => void } {
    const api = module.api;
    const original = api.C_Login;
    let calls = 0;
    api.C_Login = function (this: typeof api, ...args: Parameters<typeof original>) {
      calls++;
      return original.apply(this, args);
    };
    return {
      count: () => calls,
      restore: () => {
        api.C_Login = original;
      },
    };
  }

  function tokenFlags(module: Pkcs11Module): number {
    const slot = module.api.C_GetSlotList(true).find((s) => module.api.C_GetTokenInfo(s).label.trim() === 'oftp')!;
    return module.api.C_GetTokenInfo(slot).flags;
  }

  it('a wrong PIN: one C_Login, status locked, no retry until the PIN file changes', async () => {
    const module = Pkcs11Module.acquire(hsm.module); // keeps the library loaded between stores
    const logins = watchLogins(module);
    try {
      const pinFile = hsm.pinFile('9999', 'wrong-pin');
      const statuses: Pkcs11Status[] = [];
      const store = await Pkcs11KeyStore.open({ ...config, pin: { file: pinFile } }, { requireToken: false, onStatus: (s) => statuses.push(s) }).catch(
        (e: unknown) => e,
      );
      assert.ok(store instanceof ConfigError, 'open() fails');
      assert.match(store.message, /token "oftp": wrong PIN; no new login until the PIN \(PIN file .*wrong-pin\) changes/);
      assert.ok(!store.message.includes('9999'));
      assert.equal(logins.count(), 1);
      const locked = statuses.find((s) => s.state === 'locked');
      assert.equal(locked?.ckr, 'CKR_PIN_INCORRECT');
      // SoftHSM counts the failure (CKF_USER_PIN_COUNT_LOW): exactly the one attempt above.
      assert.ok((tokenFlags(module) & pkcs11js.CKF_USER_PIN_COUNT_LOW) !== 0);

      // A store that was working and then meets a wrong PIN on re-login stays locked, however often it is called.
      const live = await Pkcs11KeyStore.open({ ...config, pin: { file: pinFile.replace('wrong-pin', 'live-pin') } }).catch(() => undefined);
      assert.equal(live, undefined, 'no such file yet');
      const livePin = hsm.pinFile(USER_PIN, 'live-pin');
      const store2 = await Pkcs11KeyStore.open({ ...config, pin: { file: livePin } });
      try {
        const key = await store2.key('sign');
        await key.sign('sha256', Buffer.from('ok'));
        assert.equal(logins.count(), 2);
        // The PIN changes under us and the session is lost (as when the card is re-inserted).
        writeFileSync(livePin, '0000\n');
        module.api.C_Logout(firstSession(module));
        // The next calls notice the lost login and reconnect (after the retry delay at most): one C_Login, refused.
        for (let i = 0; i < 100 && store2.status().state !== 'locked'; i++) {
          await assert.rejects(key.sign('sha256', Buffer.from('x')));
          await sleep(10);
        }
        for (let i = 0; i < 5; i++) {
          await assert.rejects(key.sign('sha256', Buffer.from('x')), (e: unknown) => e instanceof ConfigError && /wrong PIN/.test(e.message));
        }
        assert.equal(store2.status().state, 'locked');
        assert.equal(logins.count(), 3, 'one failed login, then no more');
        // The configuration changes: the right PIN is back; the next call logs in and works.
        writeFileSync(livePin, `${USER_PIN}\n`);
        const signature = await key.sign('sha256', Buffer.from('again'));
        assert.ok(verify('sha256', Buffer.from('again'), { key: key.publicKey, padding: constants.RSA_PKCS1_PADDING }, signature));
        assert.equal(store2.status().state, 'ready');
        assert.equal(logins.count(), 4);
        assert.equal(tokenFlags(module) & pkcs11js.CKF_USER_PIN_COUNT_LOW, 0, 'the counter is reset by the good login');
      } finally {
        await store2.close();
      }
    } finally {
      logins.restore();
      module.release();
    }
  });

  it('the token disappears mid-use: reported absent, recovered when it is back, no new store', async () => {
    const statuses: Pkcs11Status[] = [];
    const store = await Pkcs11KeyStore.open(config, { onStatus: (s) => statuses.push(s) });
    const api = Pkcs11Module.loaded(hsm.module)!.api;
    const initialize = api.C_Initialize;
    let initializations = 0;
    api.C_Initialize = function (this: typeof api, ...args: Parameters<typeof initialize>) {
      initializations++;
      return initialize.apply(this, args);
    };
    try {
      const key = await store.key('sign');
      const data = Buffer.from('before');
      await key.sign('sha256', data);

      hsm.removeTokens();
      await assert.rejects(key.sign('sha256', data), KeyUnavailableError);
      const gone = store.status();
      assert.ok(gone.state === 'absent' || gone.state === 'error', gone.state);
      // Calls while it is gone fail fast with the status, and reconnection is rate-bounded.
      const started = Date.now();
      let attempts = 0;
      while (Date.now() - started < 500) {
        attempts++;
        await assert.rejects(key.sign('sha256', data), KeyUnavailableError);
        await sleep(5);
      }
      assert.ok(attempts > 20);
      // Retry delays 100, 200, 400 ms: about 4 reconnections in 0.5 s, whatever the call rate.
      assert.ok(initializations >= 2 && initializations <= 5, `reconnections bounded: ${initializations} for ${attempts} calls`);
      const status = store.status();
      assert.equal(status.state, 'absent');
      assert.match(status.detail, /token "oftp" not (present|reachable)/);
      assert.ok(status.nextAttemptAt instanceof Date);
      assert.ok(statuses.some((s) => s.state === 'absent'));

      hsm.restoreTokens();
      await sleep(450); // past the longest retry delay
      const signature = await key.sign('sha256', Buffer.from('after'));
      assert.ok(verify('sha256', Buffer.from('after'), { key: key.publicKey, padding: constants.RSA_PKCS1_PADDING }, signature));
      assert.equal(store.status().state, 'ready');
      // Concurrent use right after recovery.
      await Promise.all(Array.from({ length: 20 }, (_, i) => key.sign('sha1', Buffer.from(`n${i}`))));
    } finally {
      api.C_Initialize = initialize;
      await store.close();
    }
  });

  it('the HSM restarts between two calls (handles void): the next call reconnects and succeeds', async () => {
    const store = await Pkcs11KeyStore.open(config);
    try {
      const key = await store.key('sign');
      await key.sign('sha512', Buffer.from('one'));
      // Simulate the library losing every session and login (what a restarted HSM does).
      const module = Pkcs11Module.loaded(hsm.module)!;
      const generation = module.generation;
      await module.reinitialize(generation);
      assert.equal(module.generation, generation + 1);
      const signature = await key.sign('sha512', Buffer.from('two'));
      assert.ok(verify('sha512', Buffer.from('two'), { key: key.publicKey, padding: constants.RSA_PKCS1_PADDING }, signature));
      assert.equal(store.status().state, 'ready');
    } finally {
      await store.close();
    }
  });

  it('an ambiguous failure with a healthy token fails that call only; CKR_DEVICE_REMOVED once is retried transparently', async () => {
    const statuses: Pkcs11Status[] = [];
    const store = await Pkcs11KeyStore.open(config, { onStatus: (s) => statuses.push(s) });
    const api = Pkcs11Module.loaded(hsm.module)!.api;
    const sign = api.C_Sign;
    const failOnce = (message: string) => {
      api.C_Sign = ((...args: unknown[]) => {
        api.C_Sign = sign;
        const callback = args[3] as (error: Error | null, out?: Buffer) => void;
        setImmediate(() => callback(new Error(message)));
      }) as typeof api.C_Sign;
    };
    try {
      const key = await store.key('sign');
      await new Promise((resolve) => setTimeout(resolve, 120)); // past the minimum retry delay
      failOnce('CKR_FUNCTION_FAILED:6');
      await assert.rejects(key.sign('sha256', Buffer.from('a')), (e: unknown) => e instanceof Pkcs11OperationError && e.ckr === 'CKR_FUNCTION_FAILED');
      assert.equal(store.status().state, 'ready', 'the probe found token and login fine');
      failOnce('CKR_DEVICE_REMOVED:50');
      const signature = await key.sign('sha256', Buffer.from('b'));
      assert.ok(verify('sha256', Buffer.from('b'), { key: key.publicKey, padding: constants.RSA_PKCS1_PADDING }, signature));
      assert.equal(store.status().state, 'ready');
      assert.deepEqual(statuses.map((s) => s.state), ['ready', 'absent', 'ready']);
      assert.match(statuses[1]!.detail, /CKR_DEVICE_REMOVED from C_Sign/);
    } finally {
      api.C_Sign = sign;
      await store.close();
    }
  });

  it('requireToken false: a store opened before its token exists reports absent, then finds it', async () => {
    const statuses: Pkcs11Status[] = [];
    const store = await Pkcs11KeyStore.open({ ...config, token: { label: 'later' } }, { requireToken: false, onStatus: (s) => statuses.push(s) });
    try {
      assert.equal(store.status().state, 'absent');
      assert.match(store.status().detail, /token "later" not present .*tokens present: "oftp"/);
      await assert.rejects(store.key('late-key'), KeyUnavailableError);
      hsm.initToken('later');
      hsm.keyPair('later', { label: 'late-key', id: '05' });
      await sleep(450);
      const key = await store.key('late-key');
      assert.equal(key.keyId, '05');
      assert.equal(store.status().state, 'ready');
      assert.deepEqual(
        statuses.map((s) => s.state),
        ['absent', 'ready'],
      );
    } finally {
      await store.close();
    }
  });
});

/** A session of ours on the token (for C_Logout, which logs out every session of the application). */
function firstSession(module: Pkcs11Module): Buffer {
  const slot = module.api.C_GetSlotList(true).find((s) => module.api.C_GetTokenInfo(s).label.trim() === 'oftp')!;
  return module.api.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
}
