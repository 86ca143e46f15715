// Entry point of the `oftp2` command, both from the source tree (`npm start -- …`, run by Node 24's
// type stripping) and as the bundle inside the single binary (scripts/build.ts).
// It checks the Node version first, then loads the CLI with a dynamic import, so that nothing the
// CLI pulls in can fail on an old Node before the one-line complaint is printed.
import { nodeVersionProblem } from './node-guard.ts';

const problem = nodeVersionProblem(process.versions.node);
if (problem !== undefined) {
  process.stderr.write(problem + '\n');
  process.exit(1);
}

import('./run.ts').then(
  async (cli) => {
    cli.installProcessHandlers();
    process.exitCode = await cli.runCli(process.argv.slice(2));
  },
  (error: unknown) => {
    // Only a broken install gets here (a module failed to load): still one line, stack on demand.
    const detail = process.env.OFTP2_DEBUG === '1' && error instanceof Error ? error.stack : String(error);
    process.stderr.write('oftp2: cannot start: ' + detail + '\n');
    process.exitCode = 1;
  },
);
