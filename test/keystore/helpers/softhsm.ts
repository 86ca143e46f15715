// A fresh SoftHSM2 token store per test run: a temp directory with its own softhsm2.conf, tokens
// initialised with softhsm2-util and key pairs made with pkcs11-tool, removed afterwards.
// SOFTHSM2_CONF is set in this process (SoftHSM reads it at C_Initialize) and passed to the tools.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SOFTHSM_MODULE = process.env.OFTP2_TEST_PKCS11_MODULE ?? '/usr/lib/softhsm/libsofthsm2.so';
export const USER_PIN = '1234';
export const SO_PIN = '87654321';

/** Why the SoftHSM tests cannot run here, or undefined when they can. In CI a missing tool fails. */
export function softHsmMissing(): string | undefined {
  const missing = [SOFTHSM_MODULE, '/usr/bin/softhsm2-util', '/usr/bin/pkcs11-tool'].filter((p) => !existsSync(p));
  if (missing.length === 0) return undefined;
  const reason = `SoftHSM not installed (apt-get install softhsm2 opensc): missing ${missing.join(', ')}`;
  if (process.env.CI) throw new Error(reason);
  return reason;
}

export interface SoftHsm {
  readonly dir: string;
  readonly conf: string;
  readonly tokenDir: string;
  readonly module: string;
  /** Environment for the command-line tools and child processes. */
  readonly env: NodeJS.ProcessEnv;
  /** softhsm2-util --init-token --free; returns the token's serial number. */
  initToken(label: string, pin?: string): string;
  /** pkcs11-tool --keypairgen on the token. */
  keyPair(token: string, options: { label: string; id: string; bits?: number; pin?: string }): void;
  /** pkcs11-tool with --module and this environment; returns stdout. */
  tool(args: string[]): string;
  /** A PIN file in the temp directory. */
  pinFile(pin: string, name?: string): string;
  /** Moves the token directory away (SoftHSM's closest thing to pulling the card). */
  removeTokens(): void;
  /** Puts it back. */
  restoreTokens(): void;
  cleanup(): void;
}

export function createSoftHsm(): SoftHsm {
  const dir = mkdtempSync(join(tmpdir(), 'oftp2-softhsm-'));
  const tokenDir = join(dir, 'tokens');
  const away = join(dir, 'tokens.removed');
  mkdirSync(tokenDir);
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokenDir}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = true\n`);
  process.env.SOFTHSM2_CONF = conf;
  const env = { ...process.env, SOFTHSM2_CONF: conf };
  const run = (file: string, args: string[]) => execFileSync(file, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return {
    dir,
    conf,
    tokenDir,
    module: SOFTHSM_MODULE,
    env,
    initToken(label, pin = USER_PIN) {
      run('softhsm2-util', ['--init-token', '--free', '--label', label, '--so-pin', SO_PIN, '--pin', pin]);
      const out = run('softhsm2-util', ['--show-slots']);
      const block = out.split(/\n(?=Slot )/).find((b) => new RegExp(`Label:\\s+${label}\\s*$`, 'm').test(b));
      const serial = block ? /Serial number:\s+(\S+)/.exec(block)?.[1] : undefined;
      if (serial === undefined) throw new Error(`softhsm2-util: token ${label} not listed`);
      return serial;
    },
    keyPair(token, { label, id, bits = 2048, pin = USER_PIN }) {
      run('pkcs11-tool', [
        '--module', SOFTHSM_MODULE, '--token-label', token, '--login', '--pin', pin,
        '--keypairgen', '--key-type', `rsa:${bits}`, '--id', id, '--label', label,
      ]);
    },
    tool(args) {
      return run('pkcs11-tool', ['--module', SOFTHSM_MODULE, ...args]);
    },
    pinFile(pin, name = 'pin') {
      const file = join(dir, name);
      writeFileSync(file, `${pin}\n`, { mode: 0o600 });
      return file;
    },
    removeTokens() {
      renameSync(tokenDir, away);
    },
    restoreTokens() {
      renameSync(away, tokenDir);
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
