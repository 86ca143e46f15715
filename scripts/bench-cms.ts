// CMS file services benchmark (RFC 5024 §6): a file of N MiB (1 GiB by default) is signed, compressed
// and encrypted, then decrypted, decompressed and verified by our streaming pipeline, and the same
// work is done by `openssl cms` on the same file, in the same run.
//
//   npm run bench:cms -- [--mib 1024] [--suite 2[,1,4...]] [--runs 1] [--no-compress] [--level 6]
//                        [--inline-digest]
//
// Every phase runs in its own processes, ours as openssl's, timed from outside (start-up included)
// and measured with /usr/bin/time (peak RSS of each process):
//   ours:    node scripts/bench-cms.ts --ours <phase> ...   (envelopeFile / openEnvelopeFile)
//   openssl: openssl cms -sign -stream | openssl cms -encrypt -stream
//            openssl cms -decrypt | openssl cms -verify
// Debian's openssl has no zlib (`openssl cms -compress` fails), so:
//   ratio_to_openssl compares sign+encrypt and decrypt+verify (no compression):
//     (our encode + our decode time) / (openssl encode + openssl decode time); per direction too;
//   with compression, our full pipeline is compared with openssl plus our zlib stage in the middle
//   (this script in --stage mode): openssl -sign | our CompressedData | openssl -encrypt, and
//   openssl -decrypt | our decompression | openssl -verify.
// Signatures carry no certificates (§6.2), as ours do by default. Suite 02 (AES-256-CBC, SHA-1) is the
// fastest mandatory suite and the default; 3DES suites (01, 03, 05) run at 3DES speed (~35 MB/s)
// whoever does it. Data: text-like records (compressible, as EDI flat files), one 1 MiB block repeated.
// Our processes load the TypeScript sources from a compile cache warmed by a first small run, as a
// deployed build would (type stripping alone costs ~30 MB of RSS). MB/s are 10^6 octets of the
// original file per second. Files of 8 MiB or more are hashed on a worker thread (the pipeline's
// default; --inline-digest hashes on the main thread). rss_mb is the largest peak RSS of our processes, in 10^6 octets. Each
// phase is best of --runs. The last line is one JSON object.

import { spawn, spawnSync } from 'node:child_process';
import { constants, createPrivateKey, type KeyObject, privateDecrypt, sign, X509Certificate } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import type { HashAlgorithm, PrivateKeyHandle } from '../src/keystore/key-store.ts';
import { resolveSuite } from '../src/security/cms/algorithms.ts';
import { decodeCompressedData, encodeCompressedData } from '../src/security/cms/compressed-data.ts';
import { envelopeFile, openEnvelopeFile } from '../src/security/cms/pipeline.ts';

const args = process.argv.slice(2);
const MiB = 1 << 20;

/** A PrivateKeyHandle over a PEM key file (the benchmark's own; the FILE KeyStore is elsewhere). */
function keyHandle(keyPath: string, certPath: string): PrivateKeyHandle {
  const key: KeyObject = createPrivateKey(readFileSync(keyPath));
  return {
    id: `bench:${keyPath}`,
    certificate: new Uint8Array(new X509Certificate(readFileSync(certPath)).raw),
    modulusBits: key.asymmetricKeyDetails?.modulusLength ?? 0,
    async sign(hash: HashAlgorithm, data: Uint8Array) {
      return sign(hash, data, { key, padding: constants.RSA_PKCS1_PADDING });
    },
    async decrypt(ciphertext: Uint8Array) {
      return privateDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, ciphertext);
    },
  };
}

// --stage compress|decompress <level>: one CMS layer from stdin to stdout (middle of openssl's pipeline).
if (args[0] === '--stage') {
  const stage = args[1] === 'compress' ? encodeCompressedData({ level: Number(args[2] ?? 6) }) : decodeCompressedData().transform;
  await pipeline(process.stdin, stage, process.stdout);
  process.exit(0);
}

// --ours <encode|decode> <suite> <keys dir> <in> <out> <compress level or -1> <parallel 0|1>: one phase of ours.
if (args[0] === '--ours') {
  const [phase, code, keys, input, output, levelArg, parallelArg] = args.slice(1);
  const suite = Number(code);
  const lvl = Number(levelArg);
  const parallelDigest = parallelArg === '1' ? 'auto' : false;
  const sender = keyHandle(join(keys!, 'sender.key'), join(keys!, 'sender.crt'));
  const receiver = keyHandle(join(keys!, 'receiver.key'), join(keys!, 'receiver.crt'));
  if (phase === 'encode') {
    await envelopeFile(input!, output!, {
      suite,
      sign: { signers: [sender] },
      compress: lvl >= 0 ? { level: lvl } : false,
      encrypt: { recipients: [receiver.certificate!] },
      parallelDigest,
    });
  } else {
    const result = await openEnvelopeFile(input!, output!, {
      decrypt: { key: receiver },
      decompress: lvl >= 0,
      verify: { certificates: [sender.certificate!] },
      parallelDigest,
    });
    if (result.signature === undefined) throw new Error('not verified');
  }
  process.exit(0);
}

let mib = 1024;
let suites = [2];
let runs = 1;
let compress = true;
let level = 6;
let parallel = true;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--mib') mib = Number(args[++i]);
  else if (a === '--suite') suites = String(args[++i]).split(',').map(Number);
  else if (a === '--runs') runs = Number(args[++i]);
  else if (a === '--no-compress') compress = false;
  else if (a === '--level') level = Number(args[++i]);
  else if (a === '--inline-digest') parallel = false;
  else {
    console.error(
      `bench-cms: unknown argument ${a} (use --mib N, --suite N[,N], --runs N, --no-compress, --level N, --inline-digest)`,
    );
    process.exit(2);
  }
}
if (!(mib > 0) || !(runs >= 1) || !(level >= 0 && level <= 9) || suites.some((s) => ![1, 2, 3, 4, 5, 6].includes(s))) {
  console.error('bench-cms: --mib > 0, --runs >= 1, --level 0..9, --suite among 1..6');
  process.exit(2);
}

const total = Math.round(mib * MiB);
const dir = mkdtempSync(join(tmpdir(), 'oftp2-bench-cms-'));
const self = fileURLToPath(import.meta.url);
const compileCache = join(dir, 'compile-cache');
mkdirSync(compileCache);
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
process.on('SIGINT', () => process.exit(130));

// ---------------------------------------------------------------------------------------------
// Keys, certificates and the input file

for (const name of ['sender', 'receiver']) {
  const r = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`), '-subj', `/CN=${name}`, '-days', '2'],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(r.stderr);
}

/** Text-like records: 30–79 letters and digits, spaces to column 100, digits, CR LF (128 octets). */
function textBlock(): Uint8Array {
  const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  let seed = 0x2545f491;
  const random = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
  const block = new Uint8Array(MiB);
  for (let at = 0; at < MiB; at += 128) {
    const letters = 30 + (random() % 50);
    for (let i = 0; i < 128; i++) {
      let c: number;
      if (i < letters) c = ALNUM.charCodeAt(random() % 36);
      else if (i < 100) c = 0x20;
      else if (i < 118) c = 0x30 + (random() % 10);
      else if (i < 126) c = ALNUM.charCodeAt(random() % 36);
      else c = i === 126 ? 0x0d : 0x0a;
      block[at + i] = c;
    }
  }
  return block;
}

async function writeInput(path: string, size: number): Promise<void> {
  const block = textBlock();
  await pipeline(
    (function* () {
      for (let at = 0; at < size; at += MiB) yield block.subarray(0, Math.min(MiB, size - at));
    })(),
    createWriteStream(path),
  );
}

/** SHA-256 of a file by `openssl dgst`. */
function hashOf(path: string): string {
  const r = spawnSync('openssl', ['dgst', '-sha256', '-r', path], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout.split(' ')[0]!;
}

const input = join(dir, 'input.dat');
await writeInput(input, total);
const inputHash = hashOf(input);

function checkOutput(path: string, what: string): void {
  if (hashOf(path) !== inputHash) throw new Error(`${what}: output differs from the input`);
  rmSync(path, { force: true });
}

// ---------------------------------------------------------------------------------------------
// Timing: a shell pipeline of commands, each under /usr/bin/time for its peak RSS

interface Timing {
  seconds: number;
  /** Largest peak RSS among the processes, in 10^6 octets. */
  peakRssMb: number;
}

async function timeShell(commands: string[]): Promise<Timing> {
  const rssFiles = commands.map((_, i) => join(dir, `rss-${i}.txt`));
  const line = commands.map((c, i) => `/usr/bin/time -f %M -o ${rssFiles[i]} ${c}`).join(' | ');
  const t = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn('bash', ['-c', `set -o pipefail; ${line}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, NODE_COMPILE_CACHE: compileCache },
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (c) => (c === 0 ? resolve() : reject(new Error(`${line}\n${stderr}`))));
  });
  const seconds = (performance.now() - t) / 1000;
  const peakRssMb = Math.max(...rssFiles.map((f) => (Number(readFileSync(f, 'utf8').trim().split('\n').at(-1)) * 1024) / 1e6));
  return { seconds, peakRssMb };
}

function better(a: Timing | undefined, b: Timing): Timing {
  return a === undefined ? b : { seconds: Math.min(a.seconds, b.seconds), peakRssMb: Math.max(a.peakRssMb, b.peakRssMb) };
}

const mbps = (seconds: number): number => total / 1e6 / seconds;
const round = (x: number, digits = 0): number => Number(x.toFixed(digits));
const q = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;
const node = `${q(process.execPath)} ${q(self)}`;
const ours = (phase: 'encode' | 'decode', suite: number, from: string, to: string, lvl: number): string =>
  `${node} --ours ${phase} ${suite} ${q(dir)} ${q(from)} ${q(to)} ${lvl} ${parallel ? 1 : 0}`;

function line(name: string, r: Timing): string {
  return `  ${name.padEnd(46)} ${r.seconds.toFixed(2).padStart(7)} s ${mbps(r.seconds).toFixed(0).padStart(6)} MB/s   peak RSS ${r.peakRssMb.toFixed(0)} MB`;
}

// Warm the compile cache (and check the round trip) with a small file.
{
  const small = join(dir, 'warm.dat');
  await writeInput(small, MiB);
  await timeShell([ours('encode', 2, small, join(dir, 'warm.cms'), 6)]);
  await timeShell([ours('decode', 2, join(dir, 'warm.cms'), join(dir, 'warm.out'), 6)]);
  if (hashOf(join(dir, 'warm.out')) !== hashOf(small)) throw new Error('warm-up round trip differs');
}

console.log(
  `CMS benchmark: ${mib} MiB text-like file, suites ${suites.map((s) => String(s).padStart(2, '0')).join(',')}, best of ${runs}, ` +
    `node ${process.version}, ${spawnSync('openssl', ['version'], { encoding: 'utf8' }).stdout.trim()}, ` +
    `digest ${parallel ? 'on a worker thread (the default for files of 8 MiB or more)' : 'inline'}, load ${loadavg()[0]!.toFixed(1)}`,
);

const results: Record<string, unknown>[] = [];
for (const code of suites) {
  const suite = resolveSuite(code);
  const md = suite.hash;
  const cipher = suite.cipher === 'des-ede3-cbc' ? '-des3' : '-aes256';
  console.log(`suite ${String(code).padStart(2, '0')} (${suite.cipher}, RSA PKCS#1 v1.5, ${md})`);
  const oursFile = join(dir, 'ours.cms');
  const theirsFile = join(dir, 'openssl.cms');
  const out = join(dir, 'out.dat');
  const sender = { key: q(join(dir, 'sender.key')), cert: q(join(dir, 'sender.crt')) };
  const receiver = { key: q(join(dir, 'receiver.key')), cert: q(join(dir, 'receiver.crt')) };
  const sslSign = `openssl cms -sign -binary -nodetach -stream -nocerts -outform DER -md ${md} -signer ${sender.cert} -inkey ${sender.key}`;
  const sslEncrypt = `openssl cms -encrypt -binary -stream -outform DER ${cipher} -out ${q(theirsFile)} ${receiver.cert}`;
  const sslDecrypt = `openssl cms -decrypt -binary -inform DER -inkey ${receiver.key} -recip ${receiver.cert} -in ${q(theirsFile)}`;
  const sslVerify = `openssl cms -verify -binary -inform DER -certfile ${sender.cert} -CAfile ${sender.cert} -out ${q(out)}`;
  const stage = (s: string): string => `${node} --stage ${s} ${level}`;

  let oe: Timing | undefined;
  let se: Timing | undefined;
  let od: Timing | undefined;
  let sd: Timing | undefined;
  let of: Timing | undefined;
  let mf: Timing | undefined;
  let ofd: Timing | undefined;
  let mfd: Timing | undefined;
  let envelopedMb = 0;
  let compressedMb = 0;
  for (let run = 0; run < runs; run++) {
    // sign + encrypt, decrypt + verify: ours and openssl's, alternating
    oe = better(oe, await timeShell([ours('encode', code, input, oursFile, -1)]));
    se = better(se, await timeShell([`${sslSign} -in ${q(input)}`, sslEncrypt]));
    envelopedMb = statSync(oursFile).size / 1e6;
    od = better(od, await timeShell([ours('decode', code, oursFile, out, -1)]));
    checkOutput(out, 'ours decrypt+verify');
    sd = better(sd, await timeShell([sslDecrypt, sslVerify]));
    checkOutput(out, 'openssl decrypt+verify');
    if (compress) {
      of = better(of, await timeShell([ours('encode', code, input, oursFile, level)]));
      mf = better(mf, await timeShell([`${sslSign} -in ${q(input)}`, stage('compress'), sslEncrypt]));
      compressedMb = statSync(oursFile).size / 1e6;
      ofd = better(ofd, await timeShell([ours('decode', code, oursFile, out, level)]));
      checkOutput(out, 'ours full open');
      mfd = better(mfd, await timeShell([sslDecrypt, stage('decompress'), sslVerify]));
      checkOutput(out, 'openssl full open');
    }
    rmSync(oursFile, { force: true });
    rmSync(theirsFile, { force: true });
  }
  console.log(line('ours     sign+encrypt', oe!));
  console.log(line('openssl  sign | encrypt', se!));
  console.log(line('ours     decrypt+verify', od!));
  console.log(line('openssl  decrypt | verify', sd!));
  const ratioEncode = oe!.seconds / se!.seconds;
  const ratioDecode = od!.seconds / sd!.seconds;
  const ratio = (oe!.seconds + od!.seconds) / (se!.seconds + sd!.seconds);
  console.log(`  ratio to openssl (time): sign+encrypt ${ratioEncode.toFixed(2)}, decrypt+verify ${ratioDecode.toFixed(2)}, both ${ratio.toFixed(2)}`);
  const r: Record<string, unknown> = {
    suite: code,
    ours_sign_encrypt_mbps: round(mbps(oe!.seconds)),
    openssl_sign_encrypt_mbps: round(mbps(se!.seconds)),
    ours_decrypt_verify_mbps: round(mbps(od!.seconds)),
    openssl_decrypt_verify_mbps: round(mbps(sd!.seconds)),
    ratio_sign_encrypt: round(ratioEncode, 3),
    ratio_decrypt_verify: round(ratioDecode, 3),
    ratio_to_openssl: round(ratio, 3),
    enveloped_mb: round(envelopedMb, 1),
    ours_rss_mb: round(Math.max(oe!.peakRssMb, od!.peakRssMb)),
    openssl_rss_mb: round(Math.max(se!.peakRssMb, sd!.peakRssMb)),
  };
  if (compress) {
    console.log(line('ours     sign+compress+encrypt', of!));
    console.log(line('openssl  sign | our zlib stage | openssl encrypt', mf!));
    console.log(line('ours     decrypt+decompress+verify', ofd!));
    console.log(line('openssl  decrypt | our zlib stage | openssl verify', mfd!));
    const ratioFull = (of!.seconds + ofd!.seconds) / (mf!.seconds + mfd!.seconds);
    console.log(
      `  with compression (level ${level}, to ${((100 * compressedMb * 1e6) / total).toFixed(0)} % of the file): ratio ` +
        `${(of!.seconds / mf!.seconds).toFixed(2)} encode, ${(ofd!.seconds / mfd!.seconds).toFixed(2)} decode, ${ratioFull.toFixed(2)} both`,
    );
    Object.assign(r, {
      ours_sign_compress_encrypt_mbps: round(mbps(of!.seconds)),
      mixed_sign_compress_encrypt_mbps: round(mbps(mf!.seconds)),
      ours_decrypt_decompress_verify_mbps: round(mbps(ofd!.seconds)),
      mixed_decrypt_decompress_verify_mbps: round(mbps(mfd!.seconds)),
      ratio_with_compression: round(ratioFull, 3),
      compressed_mb: round(compressedMb, 1),
      ours_rss_mb: round(Math.max(r.ours_rss_mb as number, of!.peakRssMb, ofd!.peakRssMb)),
    });
  }
  results.push(r);
}

const worst = results.reduce((a, b) => ((a.ratio_to_openssl as number) >= (b.ratio_to_openssl as number) ? a : b));
const rssMb = Math.max(...results.map((r) => r.ours_rss_mb as number));
console.log(`  peak RSS of our processes ${rssMb} MB; of openssl's ${Math.max(...results.map((r) => r.openssl_rss_mb as number))} MB`);
console.log(
  JSON.stringify({
    bench: mib === 1024 ? 'cms-1GiB' : `cms-${mib}MiB`,
    ratio_to_openssl: worst.ratio_to_openssl,
    rss_mb: rssMb,
    compared: 'sign+encrypt and decrypt+verify, openssl without zlib; ratio_with_compression puts our zlib stage between openssl commands',
    parallel_digest: parallel,
    load: round(loadavg()[0]!, 1),
    suites: results,
  }),
);
