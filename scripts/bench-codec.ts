// Data exchange buffer codec benchmark (RFC 5024 §7): encode and decode DATA buffers for 1 GiB of
// user data per case, beside a plain Buffer.copy of the same octets in the same slices as the ideal.
//
//   npm run bench:codec -- [--mib 1024] [--sdeb 99999]
//
// Cases (exchange buffer size 99999 unless --sdeb says otherwise):
//   u        format U, no buffer compression; pseudo-random octets (incompressible binary)
//   u_comp   format U, buffer compression; text-like fixed-width records of 128 octets: 30-79 random
//            upper-case letters and digits, spaces to column 100, eighteen '0', eight random
//            characters, CR LF (so runs of spaces and zeros, as in padded EDI/VDA flat files)
//   f80      format F with 80-octet records, no compression; the same pseudo-random octets
//   copy     Buffer.copy of the same octets, in slices of one DATA payload (sdeb - 1), the ideal
// Data is generated once in a 1 MiB chunk that is fed again and again, so memory stays small.
// Encode and decode are timed separately (each DATA buffer is decoded as soon as it is encoded).
// MB/s are 10^6 octets of user data per second. The last line is one JSON object.
import { ExchangeBufferDecoder } from '../src/protocol/exchange-buffer-decoder.ts';
import { ExchangeBufferEncoder } from '../src/protocol/exchange-buffer-encoder.ts';

const args = process.argv.slice(2);
let mib = 1024;
let sdeb = 99999;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--mib') mib = Number(args[++i]);
  else if (args[i] === '--sdeb') sdeb = Number(args[++i]);
  else {
    console.error(`bench-codec: unknown argument ${args[i]} (use --mib N, --sdeb N)`);
    process.exit(2);
  }
}
if (!(mib > 0) || !(sdeb >= 128 && sdeb <= 99999)) {
  console.error('bench-codec: --mib must be positive and --sdeb within 128..99999');
  process.exit(2);
}

const CHUNK = 1 << 20;
const TOTAL = Math.round(mib * CHUNK);
const WARMUP = Math.min(TOTAL, 64 * CHUNK);

let seed = 0x2545f491;
const random = (): number => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
};

const binary = new Uint8Array(CHUNK);
for (let i = 0; i < CHUNK; i++) binary[i] = random() & 0xff;
const f80 = binary.subarray(0, Math.floor(CHUNK / 80) * 80);
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const text = new Uint8Array(CHUNK);
for (let at = 0; at < CHUNK; at += 128) {
  const letters = 30 + (random() % 50);
  for (let i = 0; i < 128; i++) {
    let c: number;
    if (i < letters) c = ALNUM.charCodeAt(random() % 36);
    else if (i < 100) c = 0x20;
    else if (i < 118) c = 0x30;
    else if (i < 126) c = ALNUM.charCodeAt(random() % 36);
    else c = i === 126 ? 0x0d : 0x0a;
    text[at + i] = c;
  }
}

interface Result {
  encodeMbps: number;
  decodeMbps: number;
  wireRatio: number;
}

function runCodec(format: 'U' | 'F', bufferCompression: boolean, chunk: Uint8Array, total: number): Result {
  const maxRecordSize = format === 'F' ? 80 : 0;
  if (format === 'F') total -= total % 80; // whole records
  const enc = new ExchangeBufferEncoder({ format, exchangeBufferSize: sdeb, bufferCompression, maxRecordSize });
  const dec = new ExchangeBufferDecoder({ format, exchangeBufferSize: sdeb, maxRecordSize });
  let fed = 0;
  let encodeMs = 0;
  let decodeMs = 0;
  let wire = 0;
  for (;;) {
    let t = performance.now();
    const buf = enc.pull();
    encodeMs += performance.now() - t;
    if (buf) {
      wire += buf.length;
      t = performance.now();
      dec.decode(buf.subarray(1));
      decodeMs += performance.now() - t;
      continue;
    }
    if (!enc.needsInput) break;
    t = performance.now();
    if (fed < total) {
      const n = Math.min(chunk.length, total - fed);
      enc.write(chunk, 0, n);
      fed += n;
    } else enc.end();
    encodeMs += performance.now() - t;
  }
  dec.end();
  if (enc.unitCount !== fed || dec.unitCount !== fed) throw new Error(`unit counts ${enc.unitCount}/${dec.unitCount} for ${fed}`);
  if (format === 'F' && dec.recordCount !== fed / 80) throw new Error(`record count ${dec.recordCount}`);
  return { encodeMbps: fed / 1e3 / encodeMs, decodeMbps: fed / 1e3 / decodeMs, wireRatio: wire / fed };
}

function runCopy(chunk: Uint8Array, total: number): number {
  const src = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
  const out = Buffer.alloc(sdeb);
  const slice = sdeb - 1;
  let done = 0;
  let at = 0;
  const t = performance.now();
  while (done < total) {
    const n = Math.min(slice, total - done, src.length - at);
    src.copy(out, 1, at, at + n);
    at += n;
    if (at === src.length) at = 0;
    done += n;
  }
  return total / 1e3 / (performance.now() - t);
}

const fmt = (mbps: number): string => mbps.toFixed(0).padStart(7);
console.log(`codec benchmark: ${mib} MiB of user data per case, exchange buffer size ${sdeb}, node ${process.version}`);

// Warm up every path so the timed runs measure optimised code.
runCopy(binary, WARMUP);
runCodec('U', false, binary, WARMUP);
runCodec('U', true, text, WARMUP / 4);
runCodec('F', false, f80, WARMUP / 4);

const copy = runCopy(binary, TOTAL);
console.log(`  copy (ideal)         ${fmt(copy)} MB/s`);
const u = runCodec('U', false, binary, TOTAL);
console.log(`  U encode             ${fmt(u.encodeMbps)} MB/s   ${(u.encodeMbps / copy).toFixed(3)} of copy`);
console.log(`  U decode             ${fmt(u.decodeMbps)} MB/s   ${(u.decodeMbps / copy).toFixed(3)} of copy`);
const uc = runCodec('U', true, text, TOTAL);
console.log(`  U compressed encode  ${fmt(uc.encodeMbps)} MB/s   ${(uc.encodeMbps / copy).toFixed(3)} of copy   (wire/data ${uc.wireRatio.toFixed(3)})`);
console.log(`  U compressed decode  ${fmt(uc.decodeMbps)} MB/s   ${(uc.decodeMbps / copy).toFixed(3)} of copy`);
const f = runCodec('F', false, f80, TOTAL);
console.log(`  F 80 encode          ${fmt(f.encodeMbps)} MB/s   ${(f.encodeMbps / copy).toFixed(3)} of copy`);
console.log(`  F 80 decode          ${fmt(f.decodeMbps)} MB/s   ${(f.decodeMbps / copy).toFixed(3)} of copy`);
const rssMb = process.resourceUsage().maxRSS / 1024;
console.log(`  peak RSS             ${rssMb.toFixed(0).padStart(7)} MiB`);

const r = (x: number, d = 0): number => Number(x.toFixed(d));
console.log(
  JSON.stringify({
    bench: mib === 1024 ? 'codec-1GiB' : `codec-${mib}MiB`,
    exchange_buffer_size: sdeb,
    u_encode_mbps: r(u.encodeMbps),
    u_decode_mbps: r(u.decodeMbps),
    u_comp_encode_mbps: r(uc.encodeMbps),
    u_comp_decode_mbps: r(uc.decodeMbps),
    u_comp_wire_ratio: r(uc.wireRatio, 3),
    f80_encode_mbps: r(f.encodeMbps),
    f80_decode_mbps: r(f.decodeMbps),
    copy_mbps: r(copy),
    u_encode_ratio: r(u.encodeMbps / copy, 3),
    u_decode_ratio: r(u.decodeMbps / copy, 3),
    rss_mb: r(rssMb),
  }),
);
