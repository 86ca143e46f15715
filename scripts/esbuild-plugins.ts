// esbuild set-up of the single-binary bundle (scripts/build.ts; also the session bench's bundle):
// its options and plugins.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import type * as esbuild from 'esbuild';

/** Packages replaced by an empty CommonJS module (supports-color: optional for debug, and a SEA warning). */
export function emptyModules(names: string[]): esbuild.Plugin {
  const filter = new RegExp(`^(${names.map((n) => n.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|')})$`);
  return {
    name: 'empty-modules',
    setup(build) {
      build.onResolve({ filter }, (args) => ({ path: args.path, namespace: 'empty-module' }));
      build.onLoad({ filter: /.*/, namespace: 'empty-module' }, () => ({ contents: 'module.exports = {};', loader: 'js' }));
    },
  };
}

/**
 * Native addons. A single executable can embed JavaScript only, so `.node` files ship beside the
 * binary in dist/native/ and the bundle loads them from there (process.dlopen on the path next to
 * __filename: the binary itself inside the SEA, dist/app.cjs when the bundle runs under plain node).
 * - pkcs11js: its index.js does `require('./build/Release/pkcs11.node')`. Any `require` of a `.node`
 *   file is resolved here, the file is copied to dist/native/<package>-<name>.node, and the require
 *   is replaced by a stub that dlopens the copy.
 * - serialport (@serialport/bindings-cpp): calls `require('node-gyp-build')(packageDir)`, which picks
 *   a prebuilt or locally built addon at run time. Here the real node-gyp-build is asked at build
 *   time which file it would pick for this host, that file is copied the same way, and
 *   node-gyp-build is replaced by a stub that dlopens the copy whatever directory it is given.
 * Neither package is installed yet, so today nothing requires a `.node` file or node-gyp-build and
 * both hooks never fire: the plugin is a no-op. Check the stubs against the real packages when
 * they arrive (and for arm64, copy the arm64 builds instead of asking node-gyp-build on the host).
 */
export function nativeAddonsPlugin(addons: Map<string, string>): esbuild.Plugin {
  const stub = (name: string, asGypBuild: boolean) => {
    const load = [
      'var path = require("node:path");',
      `var file = path.join(path.dirname(__filename), "native", ${JSON.stringify(name)});`,
      'function load() { var m = { exports: {} }; process.dlopen(m, file); return m.exports; }',
    ];
    return asGypBuild
      ? [...load, 'module.exports = function nodeGypBuild() { return load(); };', 'module.exports.path = function () { return file; };'].join('\n')
      : [...load, 'module.exports = load();'].join('\n');
  };
  const register = (source: string) => {
    const name = `${packageName(source).replace(/^@/, '').replace(/\//g, '-')}-${source.split('/').pop()}`;
    addons.set(name, source);
    return name;
  };
  return {
    name: 'native-addons',
    setup(build) {
      build.onResolve({ filter: /\.node$/ }, (args) => {
        const source = resolve(args.resolveDir, args.path);
        if (!existsSync(source)) return { errors: [{ text: `native addon ${source} is not built (npm rebuild?)` }] };
        return { path: register(source), namespace: 'native-addon' };
      });
      build.onResolve({ filter: /^node-gyp-build$/ }, (args) => {
        const packageDir = packageRoot(args.importer);
        const gypBuild = createRequire(args.importer)('node-gyp-build') as { path(dir: string): string };
        return { path: register(gypBuild.path(packageDir)), namespace: 'native-gyp-build' };
      });
      build.onLoad({ filter: /.*/, namespace: 'native-addon' }, (args) => ({ contents: stub(args.path, false), loader: 'js' }));
      build.onLoad({ filter: /.*/, namespace: 'native-gyp-build' }, (args) => ({ contents: stub(args.path, true), loader: 'js' }));
    },
  };
}

/** The directory of the package.json nearest above `file`. */
function packageRoot(file: string): string {
  for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
  }
  throw new Error(`no package.json above ${file}`);
}

function packageName(file: string): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(file), 'package.json'), 'utf8')) as { name?: string };
  return pkg.name ?? 'addon';
}

/**
 * How src/cli/main.ts is bundled: one CommonJS file for Node 24. Native addons met on the way are
 * added to `nativeAddons` (file name in native/ → source .node file), for the caller to copy.
 */
export function cliBundleOptions(root: string, outfile: string, nativeAddons: Map<string, string>): esbuild.BuildOptions {
  return {
    absWorkingDir: root,
    entryPoints: ['src/cli/main.ts'],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    legalComments: 'none',
    logLevel: 'warning',
    // ESM's import.meta does not exist in CommonJS. In the bundle __filename is the bundle file, and in
    // the single binary it is the binary itself (process.execPath), as the SEA main script.
    banner: { js: 'var __import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
    define: {
      'import.meta.url': '__import_meta_url',
      'import.meta.filename': '__filename',
      'import.meta.dirname': '__dirname',
    },
    plugins: [emptyModules(['supports-color']), nativeAddonsPlugin(nativeAddons)],
  };
}
