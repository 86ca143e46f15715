// Shared fixtures of the CMS tests: identities made once per test process, deterministic content,
// byte tampering and async-iterable plumbing.

import { makeIdentity, type TestIdentity, tempDir } from './identity.ts';

let dir: { path: string; remove: () => void } | undefined;
const identities = new Map<string, TestIdentity>();

/** The identity `name` (RSA-2048, self-signed), made on first use in this process's temp dir. */
export function identity(name: string): TestIdentity {
  let id = identities.get(name);
  if (id === undefined) {
    dir ??= tempDir('oftp2-cms-');
    id = makeIdentity(dir.path, name);
    identities.set(name, id);
  }
  return id;
}

/** This process's temp dir (for files handed to openssl). */
export function workDir(): string {
  dir ??= tempDir('oftp2-cms-');
  return dir.path;
}

export function removeWorkDir(): void {
  dir?.remove();
  dir = undefined;
  identities.clear();
}

/** Deterministic pseudo-random octets (xorshift32). */
export function pseudoRandom(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = s & 0xff;
  }
  return out;
}

/** Text-like, compressible octets: lines of digits and letters padded with spaces. */
export function textLike(length: number, seed = 7): Uint8Array {
  const noise = pseudoRandom(length, seed);
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    const col = i % 80;
    if (col === 79) out[i] = 0x0a;
    else if (col < 30) out[i] = 0x41 + (noise[i]! % 26);
    else if (col < 40) out[i] = 0x30 + (noise[i]! % 10);
    else out[i] = 0x20;
  }
  return out;
}

/** A copy with the octet at `offset` XORed with `mask` (negative offsets count from the end). */
export function flip(bytes: Uint8Array, offset: number, mask = 0xff): Uint8Array {
  const out = Uint8Array.from(bytes);
  const at = offset < 0 ? out.length + offset : offset;
  out[at] = out[at]! ^ mask;
  return out;
}

/** Offset of `needle` in `haystack`, or -1. */
export function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  return Buffer.from(haystack.buffer, haystack.byteOffset, haystack.length).indexOf(Buffer.from(needle));
}

/** An async iterable over `bytes` cut at the given sizes, cycling (1 → octet by octet). */
export async function* pieces(bytes: Uint8Array, sizes: readonly number[] = [4096]): AsyncGenerator<Uint8Array> {
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const size = Math.max(1, sizes[i % sizes.length]!);
    yield bytes.subarray(at, Math.min(bytes.length, at + size));
    at += size;
  }
}

export const SUITES = [1, 2, 3, 4, 5, 6] as const;

/** openssl cms names of a suite's digest and cipher. */
export function opensslNames(suite: number): { md: string; cipher: string } {
  const md = { 1: 'sha1', 2: 'sha1', 3: 'sha256', 4: 'sha256', 5: 'sha512', 6: 'sha512' }[suite]!;
  return { md, cipher: suite % 2 === 1 ? '-des3' : '-aes256' };
}
