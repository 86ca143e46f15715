// Entry point of the `oftp2` command, both from the source tree (`npm start -- …`, run by Node 24's
// type stripping) and as the bundle inside the single binary (scripts/build.ts).
// It checks the Node version first, then loads the CLI with a dynamic import, so that nothing the
// CLI pulls in can fail on an old Node before the one-line complaint is printed.
// OFTP2_REPORT_RSS=1 prints the process's peak resident set size and CPU time on stderr at exit, as
// `oftp2: max-rss-kib N cpu-user-ms U cpu-system-ms S` (read by scripts/bench-session.ts).
import { writeSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { nodeVersionProblem } from './node-guard.ts';
import { catchStopSignals } from './stop-signals.ts';

if (process.env.OFTP2_REPORT_RSS === '1') {
  process.on('exit', () => {
    const usage = process.resourceUsage();
    const ms = (us: number) => Math.round(us / 1000);
    writeSync(2, `oftp2: max-rss-kib ${usage.maxRSS} cpu-user-ms ${ms(usage.userCPUTime)} cpu-system-ms ${ms(usage.systemCPUTime)}\n`);
  });
}

const problem = nodeVersionProblem(process.versions.node);
if (problem !== undefined) {
  process.stderr.write(problem + '\n');
  process.exit(1);
}

// serve: a stop signal during start-up stops the daemon cleanly once it is up (src/cli/stop-signals.ts).
if (process.argv.slice(2).find((a) => !a.startsWith('-')) === 'serve') catchStopSignals();

// Node's compile cache (in the OS temp folder; NODE_COMPILE_CACHE or NODE_DISABLE_COMPILE_CACHE=1
// override it): run from source, every start would otherwise strip the types of and compile the
// modules it loads again, about half of a start's CPU time and 30 MB of its peak memory.
nodeModule.enableCompileCache?.();

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
