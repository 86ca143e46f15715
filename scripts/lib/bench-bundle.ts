// The shipped form of `oftp2` for the session benchmark's memory case: src/cli/main.ts bundled by
// esbuild as scripts/build.ts bundles it for the single binary (cliBundleOptions),
// written into the bench's own temp directory and run with the same Node. This is the code the SEA
// binary runs, without Node's type stripping, which costs tens of MB when the CLI runs from source.
import { copyFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as esbuild from 'esbuild';
import { cliBundleOptions } from '../esbuild-plugins.ts';

export async function buildBundle(outDir: string): Promise<string> {
  const root = resolve(import.meta.dirname, '../..');
  const outfile = join(outDir, 'app.cjs');
  const nativeAddons = new Map<string, string>();
  await esbuild.build(cliBundleOptions(root, outfile, nativeAddons));

  if (nativeAddons.size > 0) {
    mkdirSync(join(outDir, 'native'), { recursive: true });
    for (const [name, source] of nativeAddons) copyFileSync(source, join(outDir, 'native', name));
  }
  return outfile;
}
