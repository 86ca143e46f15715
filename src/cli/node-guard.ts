// The Node version check that runs before the rest of the CLI is even loaded.
// Keep this file plain JavaScript in TypeScript clothing: no type annotations beyond the signature,
// no imports, no syntax newer than ES2020. It is evaluated first in the bundle (dist/app.cjs), so
// `node dist/app.cjs` on an old Node prints one line instead of failing somewhere deep inside.
// (Node 20 cannot load `src/cli/main.ts` at all — it refuses the .ts extension before any code
// runs — so from the source tree this guard only helps on Node 22.18+/23.6+, which strip types.)

/** The oldest Node major the gateway runs on (OpenSSL 3.5, type stripping, SEA). */
export const MINIMUM_NODE_MAJOR = 24;

/** A one-line complaint when `nodeVersion` (like process.versions.node) is too old, else undefined. */
export function nodeVersionProblem(nodeVersion: string): string | undefined {
  const major = Number.parseInt(String(nodeVersion).split('.')[0], 10);
  if (major >= MINIMUM_NODE_MAJOR) return undefined;
  return (
    'oftp2: Node.js ' +
    MINIMUM_NODE_MAJOR +
    ' or newer is required, this is Node.js ' +
    nodeVersion +
    '; run "npm start -- <args>" in the source tree (it uses the pinned Node 24) or the single binary dist/oftp2'
  );
}
