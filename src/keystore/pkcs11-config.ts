// Configuration of a PKCS#11 key store, its validation, and reading the PIN.
//
// The PIN comes from a file or an environment variable, never from the command line or the
// configuration itself, and is never logged: errors name where it comes from, not what it is.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.ts';

export interface Pkcs11KeyConfig {
  /** CKA_LABEL of the private key. */
  label?: string;
  /** CKA_ID of the private key, hex (e.g. "01"). With both, both must match. */
  id?: string;
  /**
   * The certificate, DER or PEM. Without it, the store reads the CKO_CERTIFICATE object with the
   * key's CKA_ID from the token (and the handle has no certificate when there is none).
   */
  certificateFile?: string;
}

export interface Pkcs11StoreConfig {
  /** Path of the vendor's PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so. */
  module: string;
  /** Which token: by CKA label, by serial number, or both (both must match). */
  token: { label?: string; serial?: string };
  /** Where the user PIN is: a file (first line) or an environment variable. */
  pin: { file?: string; env?: string };
  /**
   * The keys by the names the station uses (`KeyStore.key(name)`). Without this map, `key(name)`
   * looks the name up as a CKA_LABEL.
   */
  keys?: Record<string, Pkcs11KeyConfig>;
  /**
   * Sessions used for private-key operations in parallel (default 2, 1–64). Each operation in flight
   * holds one of libuv's worker threads (UV_THREADPOOL_SIZE, default 4, shared with file I/O) until
   * the token answers, so keep this below the pool size — a slow smart card must not stall the
   * spool's file operations; raise both for an HSM with many parallel units.
   */
  sessions?: number;
  /**
   * How to sign: 'auto' (default) uses CKM_SHA1/SHA256/SHA512_RSA_PKCS when the token lists them
   * (C_GetMechanismList) and CKM_RSA_PKCS over a DigestInfo made here otherwise; 'rsa-pkcs' always
   * uses the latter (tokens whose combined mechanisms misbehave).
   */
  signMechanism?: 'auto' | 'rsa-pkcs';
  /** Smallest RSA modulus sign/decrypt accept (default 2048); a weaker key fails when used. */
  minModulusBits?: number;
  /** Reconnecting after the token went away: first delay and cap, milliseconds (default 1000, 30000). */
  retry?: { minDelayMs?: number; maxDelayMs?: number };
}

export const DEFAULT_PIN_ENV = 'OFTP2_PKCS11_PIN';
export const DEFAULT_SESSIONS = 2;
export const DEFAULT_MIN_MODULUS_BITS = 2048;

/**
 * Checks a configuration object (as read from JSON) and returns it typed; a ConfigError names the
 * first thing wrong, with its path (`pkcs11.token`, …).
 */
export function parsePkcs11Config(raw: unknown, where = 'pkcs11'): Pkcs11StoreConfig {
  const obj = record(raw, where);
  known(obj, where, ['module', 'token', 'pin', 'keys', 'sessions', 'signMechanism', 'minModulusBits', 'retry']);
  const module = text(obj.module, `${where}.module`);
  const tokenObj = record(obj.token, `${where}.token`);
  known(tokenObj, `${where}.token`, ['label', 'serial']);
  const token = {
    label: optionalText(tokenObj.label, `${where}.token.label`),
    serial: optionalText(tokenObj.serial, `${where}.token.serial`),
  };
  if (token.label === undefined && token.serial === undefined) {
    throw bad(`${where}.token`, 'needs "label" or "serial"');
  }
  const pinObj = record(obj.pin, `${where}.pin`);
  known(pinObj, `${where}.pin`, ['file', 'env']);
  const pin = { file: optionalText(pinObj.file, `${where}.pin.file`), env: optionalText(pinObj.env, `${where}.pin.env`) };
  if ((pin.file === undefined) === (pin.env === undefined)) throw bad(`${where}.pin`, 'needs exactly one of "file" or "env"');
  let keys: Record<string, Pkcs11KeyConfig> | undefined;
  if (obj.keys !== undefined) {
    keys = {};
    for (const [name, value] of Object.entries(record(obj.keys, `${where}.keys`))) {
      const at = `${where}.keys.${name}`;
      const k = record(value, at);
      known(k, at, ['label', 'id', 'certificateFile']);
      const entry: Pkcs11KeyConfig = {};
      const label = optionalText(k.label, `${at}.label`);
      const id = optionalText(k.id, `${at}.id`);
      const certificateFile = optionalText(k.certificateFile, `${at}.certificateFile`);
      if (label !== undefined) entry.label = label;
      if (id !== undefined) entry.id = normaliseHexId(id, `${at}.id`);
      if (certificateFile !== undefined) entry.certificateFile = certificateFile;
      if (label === undefined && id === undefined) throw bad(at, 'needs "label" or "id"');
      keys[name] = entry;
    }
  }
  const config: Pkcs11StoreConfig = { module, token: dropUndefined(token), pin: dropUndefined(pin) };
  if (keys !== undefined) config.keys = keys;
  if (obj.sessions !== undefined) config.sessions = integer(obj.sessions, `${where}.sessions`, 1, 64);
  if (obj.signMechanism !== undefined) {
    if (obj.signMechanism !== 'auto' && obj.signMechanism !== 'rsa-pkcs') {
      throw bad(`${where}.signMechanism`, 'is "auto" or "rsa-pkcs"');
    }
    config.signMechanism = obj.signMechanism;
  }
  if (obj.minModulusBits !== undefined) config.minModulusBits = integer(obj.minModulusBits, `${where}.minModulusBits`, 512, 16384);
  if (obj.retry !== undefined) {
    const r = record(obj.retry, `${where}.retry`);
    known(r, `${where}.retry`, ['minDelayMs', 'maxDelayMs']);
    config.retry = {};
    if (r.minDelayMs !== undefined) config.retry.minDelayMs = integer(r.minDelayMs, `${where}.retry.minDelayMs`, 0, 3_600_000);
    if (r.maxDelayMs !== undefined) config.retry.maxDelayMs = integer(r.maxDelayMs, `${where}.retry.maxDelayMs`, 0, 3_600_000);
  }
  return config;
}

/** "0A:1b" or "0a1b" → "0a1b"; a ConfigError for anything that is not whole bytes of hex. */
export function normaliseHexId(id: string, where: string): string {
  const hex = id.replace(/[:\s]/g, '').toLowerCase();
  if (hex.length === 0 || hex.length % 2 !== 0 || !/^[0-9a-f]+$/.test(hex)) {
    throw bad(where, `"${id}" is not a hex key id (e.g. 01 or 0a1b)`);
  }
  return hex;
}

/** How the configuration names a token, for messages: `token "oftp"` or `token serial 1234`. */
export function describeToken(token: Pkcs11StoreConfig['token']): string {
  const parts: string[] = [];
  if (token.label !== undefined) parts.push(`"${token.label}"`);
  if (token.serial !== undefined) parts.push(`serial ${token.serial}`);
  return `token ${parts.join(' ')}`;
}

/** Where the PIN comes from, for messages (never the PIN). */
export function describePinSource(pin: Pkcs11StoreConfig['pin']): string {
  return pin.file !== undefined ? `PIN file ${pin.file}` : `environment variable ${pin.env}`;
}

/**
 * Reads the PIN now (each login reads it again, so a corrected PIN file is picked up without a
 * restart). A missing file or variable is a ConfigError naming it.
 */
export function readPin(pin: Pkcs11StoreConfig['pin'], env: NodeJS.ProcessEnv = process.env): string {
  let value: string | undefined;
  if (pin.file !== undefined) {
    try {
      value = readFileSync(pin.file, 'utf8').split(/\r?\n/)[0];
    } catch (error) {
      throw new ConfigError('OFTP_ERR_CONFIG', `cannot read the PKCS#11 PIN file ${pin.file}: ${(error as NodeJS.ErrnoException).code ?? error}`);
    }
  } else if (pin.env !== undefined) {
    value = env[pin.env];
    if (value === undefined) throw new ConfigError('OFTP_ERR_CONFIG', `the PKCS#11 PIN variable ${pin.env} is not set`);
  }
  if (value === undefined || value.length === 0) {
    throw new ConfigError('OFTP_ERR_CONFIG', `the PKCS#11 PIN (${describePinSource(pin)}) is empty`);
  }
  return value;
}

/** A digest of a PIN, kept instead of the PIN to notice that it changed after a refusal. */
export function pinFingerprint(pinValue: string): string {
  return createHash('sha256').update('oftp2-pin\0').update(pinValue).digest('hex');
}

function bad(where: string, message: string): ConfigError {
  return new ConfigError('OFTP_ERR_CONFIG', `${where} ${message}`);
}

function record(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(where, 'must be an object');
  return value as Record<string, unknown>;
}

function known(obj: Record<string, unknown>, where: string, names: string[]): void {
  for (const key of Object.keys(obj)) {
    if (!names.includes(key)) throw bad(`${where}.${key}`, `is not a setting (known: ${names.join(', ')})`);
  }
}

function text(value: unknown, where: string): string {
  if (typeof value !== 'string' || value.length === 0) throw bad(where, 'must be a non-empty string');
  return value;
}

function optionalText(value: unknown, where: string): string | undefined {
  return value === undefined ? undefined : text(value, where);
}

function integer(value: unknown, where: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw bad(where, `must be an integer from ${min} to ${max}`);
  }
  return value;
}

function dropUndefined<T extends Record<string, unknown>>(obj: T): T {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as T;
}
