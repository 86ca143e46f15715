// `oftp2 serve`: the station's daemon (src/gateway/daemon.ts). Listens for partners on TCP (3305) and,
// when the station has a TLS certificate, on TLS (6619, RFC 5024 §2.3); dials partners on the
// scheduler's plan; runs hooks and the share's folder watchers. JSON lines (pino) on stdout, a child
// logger per session ({session, partner}), command traces at debug level. SIGTERM/SIGINT stop it
// within station.daemon.stopTimeoutSeconds (running sessions end with ESID 05 and resume later);
// under systemd (Type=notify) it reports READY=1, WATCHDOG=1 and STOPPING=1.
import type { WatcherStarter } from '../gateway/daemon.ts';
import { type CliCommand, parseCommandArgs, usageError } from './command.ts';
import { stopSignal } from './stop-signals.ts';
import { DATA_DIR_OPTION, DATA_DIR_USAGE, dataDirFrom, integerOption } from './station-options.ts';

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error'];

/**
 * The LAN share's watchers (outbox pickup): the seam where src/gateway/outbox* plugs in. Each starter
 * gets the station and the scheduler's notifyQueued (see WatcherStarter in src/gateway/daemon.ts).
 */
export const gatewayWatchers: WatcherStarter[] = [async (context) => (await import('../gateway/share-gateway.ts')).startShareGateway(context)];

export const command: CliCommand = {
  name: 'serve',
  summary: 'Run the station: take partners’ calls, dial them on schedule',
  usage: `oftp2 serve [options]
  --port N              listen on this port instead of the configured one (default 3305)
  --host ADDR           listen on this address instead of the configured one
  --tls-port N          listen for TLS on this port instead of the configured one (default 6619;
                        TLS is on when the station has a TLS certificate: oftp2 cert import --own)
  --log-level LEVEL     ${LEVELS.join(', ')} (default: $OFTP2_LOG_LEVEL, else info); debug shows
                        every command as Inbound:/Outbound:
${DATA_DIR_USAGE}`,
  async run(argv) {
    const { values } = parseCommandArgs({
      args: argv,
      options: { ...DATA_DIR_OPTION, port: { type: 'string' }, host: { type: 'string' }, 'tls-port': { type: 'string' }, 'log-level': { type: 'string' } },
    });
    const level = values['log-level'] ?? process.env.OFTP2_LOG_LEVEL ?? 'info';
    if (!LEVELS.includes(level)) throw usageError(`unknown log level "${level}"`);
    // Loaded here, not at the top: see src/cli/command.ts (the CLI loads every command module).
    const [{ pino }, { Daemon }, { STATION_DEFAULTS }, { StationStore }] = await Promise.all([
      import('pino'),
      import('../gateway/daemon.ts'),
      import('../store/station-config.ts'),
      import('../store/station-store.ts'),
    ]);
    const log = pino({ base: undefined, level, timestamp: pino.stdTimeFunctions.isoTime });
    const dataDir = dataDirFrom(values);
    if (!(await StationStore.exists(dataDir))) {
      // Embedded defaults: a fresh machine runs a station at once; init replaces the placeholder ID.
      await StationStore.init(dataDir, { odetteId: STATION_DEFAULTS.placeholderOdetteId });
      log.warn({ dataDir, odetteId: STATION_DEFAULTS.placeholderOdetteId }, 'no station here: created one with a placeholder Odette ID; set yours with oftp2 init --odette-id');
    }
    // Listen for the stop signals before starting: a SIGTERM during start-up stops the daemon once it is up.
    const stopRequested = stopSignal();
    const daemon = await Daemon.start({
      dataDir,
      host: values.host,
      port: integerOption('port', values.port),
      tlsPort: integerOption('tls-port', values['tls-port']),
      log,
      watchers: gatewayWatchers,
    });
    const signal = await stopRequested;
    // A second signal, or a stop that overruns its budget by far, ends the process at once.
    const budgetMs = daemon.station.store.config.station.daemon.stopTimeoutSeconds * 1000;
    const hard = setTimeout(() => {
      log.error({ ms: budgetMs + 5000 }, 'stop overran its time: exiting');
      log.flush?.();
      process.exit(1);
    }, budgetMs + 5000);
    hard.unref();
    process.once('SIGTERM', () => process.exit(1));
    process.once('SIGINT', () => process.exit(1));
    await daemon.stop(signal);
    clearTimeout(hard);
    log.flush?.();
    return 0;
  },
};
