// Test-only keys and certificates made with `openssl req -x509`, and a PrivateKeyHandle over
// node:crypto (the FILE KeyStore of src/keystore is written elsewhere; these tests do not wait for it).

import { spawnSync } from 'node:child_process';
import { constants, createPrivateKey, type KeyObject, privateDecrypt, sign, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HashAlgorithm, PrivateKeyHandle } from '../../../src/keystore/key-store.ts';

export interface TestIdentity {
  name: string;
  keyPath: string;
  certPath: string;
  certDer: Uint8Array;
  key: KeyObject;
  handle: PrivateKeyHandle;
}

/** A handle over an in-memory key, counting its operations. */
export function testKeyHandle(
  key: KeyObject,
  certificate: Uint8Array | undefined,
  id = 'test:key',
): PrivateKeyHandle & { signs: number; decrypts: number } {
  return {
    id,
    certificate,
    modulusBits: key.asymmetricKeyDetails?.modulusLength ?? 0,
    signs: 0,
    decrypts: 0,
    async sign(hash: HashAlgorithm, data: Uint8Array): Promise<Uint8Array> {
      this.signs++;
      return sign(hash, data, { key, padding: constants.RSA_PKCS1_PADDING });
    },
    async decrypt(ciphertext: Uint8Array): Promise<Uint8Array> {
      this.decrypts++;
      return privateDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, ciphertext);
    },
  };
}

/** A self-signed RSA-2048 identity in `dir` (openssl req -x509 -newkey rsa:2048). */
export function makeIdentity(dir: string, name: string, bits = 2048): TestIdentity {
  const keyPath = join(dir, `${name}.key.pem`);
  const certPath = join(dir, `${name}.cert.pem`);
  const r = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', `rsa:${bits}`, '-nodes', '-keyout', keyPath, '-out', certPath, '-subj', `/O=OFTP2 test/CN=${name}`, '-days', '30'],
    { encoding: 'utf8', timeout: 60_000 },
  );
  if (r.status !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
  const certDer = new Uint8Array(new X509Certificate(readFileSync(certPath)).raw);
  const key = createPrivateKey(readFileSync(keyPath));
  return { name, keyPath, certPath, certDer, key, handle: testKeyHandle(key, certDer, `test:${name}`) };
}

export function tempDir(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export interface ToolResult {
  status: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs `openssl` with arguments and optional stdin. */
export function openssl(args: readonly string[], input?: Uint8Array): ToolResult {
  const r = spawnSync('openssl', args, { input, maxBuffer: 1 << 28, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

/** Debian's python3 (it has python3-asn1crypto; the pyenv python3 on PATH does not). */
export function python(script: string, args: readonly string[] = [], input?: Uint8Array): ToolResult {
  const r = spawnSync('/usr/bin/python3', ['-c', script, ...args], { input, maxBuffer: 1 << 28, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}
