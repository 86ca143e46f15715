// Long fuzz campaign over the protocol codec: the STB deframer, the command decoder, the data exchange
// buffer decoder (checked against a plain reference), the data buffer encoder/decoder round trip, and
// the special-logic decoder. Inputs are random octets and mutated valid ones; parameters of each run
// are derived from the input, so a failure reproduces from its hex alone.
//
//   npm run fuzz -- [--seconds 60] [--seed N] [--target NAME ...]
//   npm run fuzz -- --replay NAME HEX        run one input once and show what happens
//
// Prints the inputs tried per target and every failure with its input in hex; exits 1 on a failure.
import { runCampaign, targetNames } from './lib/fuzz-campaign.ts';
import { fuzzTargets } from './lib/fuzz-targets.ts';

const args = process.argv.slice(2);
let seconds = 60;
let seed = (Date.now() ^ (process.pid << 16)) >>> 0;
const targets: string[] = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i]!;
  if (a === '--seconds') seconds = Number(args[++i]);
  else if (a === '--seed') seed = Number(args[++i]) >>> 0;
  else if (a === '--target') targets.push(args[++i]!);
  else if (a === '--replay') {
    const name = args[++i]!;
    const target = fuzzTargets().find((t) => t.name === name);
    if (!target) fail(`unknown target ${name}; targets: ${targetNames().join(', ')}`);
    const input = Uint8Array.from(Buffer.from(args[++i] ?? '', 'hex'));
    try {
      target.run(input);
      console.log(`${name}: ${input.length} octets: accepted`);
    } catch (e) {
      console.log(`${name}: ${input.length} octets: ${target.accepts(e) ? 'typed error (acceptable)' : 'FAILURE'}`);
      console.log(e);
      process.exit(target.accepts(e) ? 0 : 1);
    }
    process.exit(0);
  } else if (a === '--help' || a === '-h') {
    console.log('usage: fuzz [--seconds N] [--seed N] [--target NAME ...] | --replay NAME HEX');
    console.log(`targets: ${targetNames().join(', ')}`);
    process.exit(0);
  } else fail(`unknown argument ${a}`);
}
if (!(seconds > 0)) fail('--seconds must be a positive number');
for (const t of targets) if (!targetNames().includes(t)) fail(`unknown target ${t}; targets: ${targetNames().join(', ')}`);

const names = targets.length > 0 ? targets : targetNames();
console.log(`fuzz: ${seconds} s over ${names.length} targets, seed ${seed}`);
const started = performance.now();
const result = await runCampaign({ seconds, seed, targets: names });
const elapsed = (performance.now() - started) / 1000;
for (const name of names) {
  const n = result.counts[name];
  console.log(`  ${name.padEnd(24)} ${n === undefined ? '(not finished)' : `${n} inputs`}`);
}
for (const f of result.failures) {
  console.log(`\nFAILURE ${f.kind} in ${f.target}: ${f.error}`);
  console.log(`  input (${f.input.length / 2} octets): ${f.input}`);
  console.log(`  replay: npm run fuzz -- --replay ${f.target} ${f.input.length > 0 ? f.input : "''"}`);
}
console.log(`fuzz: ${result.failures.length} failure(s) in ${elapsed.toFixed(1)} s`);
process.exit(result.failures.length > 0 ? 1 : 0);

function fail(message: string): never {
  console.error(`fuzz: ${message}`);
  process.exit(2);
}
