// The shipped form of `oftp2` for the session benchmark's memory case: src/cli/main.ts bundled by
// esbuild exactly as scripts/build.ts bundles it for the single binary (same options and plugins),
// written into the bench's own temp directory and run with the same Node. This is the code the SEA
// binary runs, without Node's type stripping, which costs tens of MB when the CLI runs from source.
import { copyFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as esbuild from 'esbuild';
import { emptyModules, nativeAddonsPlugin } from '../esbuild-plugins.ts';

export async function buildBundle(outDir: string): Promise<string> {
  const root = resolve(import.meta.dirname, '../..');
  const outfile = join(outDir, 'app.cjs');
  const nativeAddons = new Map<string, string>();
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: ['src/cli/main.ts'],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    legalComments: 'none',
    logLevel: 'warning',
    banner: { js: 'var __import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
    define: {
      'import.meta.url': '__import_meta_url',
      'import.meta.filename': '__filename',
      'import.meta.dirname': '__dirname',
    },
    plugins: [emptyModules(['supports-color']), nativeAddonsPlugin(nativeAddons)],
  });
  if (nativeAddons.size > 0) {
    mkdirSync(join(outDir, 'native'), { recursive: true });
    for (const [name, source] of nativeAddons) copyFileSync(source, join(outDir, 'native', name));
  }
  return outfile;
}
