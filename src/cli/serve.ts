// `oftp2 serve`: the station's responder. Listens for partners on TCP, receives their files into the
// inbox, sends them what is queued, exchanges receipts. Logs JSON lines (pino) on stdout.
import { pino } from 'pino';
import { Station } from '../station/station.ts';
import { STATION_DEFAULTS } from '../store/station-config.ts';
import { StationStore } from '../store/station-store.ts';
import { type CliCommand, parseCommandArgs } from './command.ts';
import { DATA_DIR_OPTION, DATA_DIR_USAGE, dataDirFrom, integerOption } from './station-options.ts';

export const command: CliCommand = {
  name: 'serve',
  summary: 'Run the station: accept partners’ sessions on TCP',
  usage: `oftp2 serve [options]
  --port N              listen on this port instead of the configured one (default 3305)
  --host ADDR           listen on this address instead of the configured one
${DATA_DIR_USAGE}`,
  async run(argv) {
    const { values } = parseCommandArgs({
      args: argv,
      options: { ...DATA_DIR_OPTION, port: { type: 'string' }, host: { type: 'string' } },
    });
    const log = pino({ base: undefined, timestamp: pino.stdTimeFunctions.isoTime });
    const dataDir = dataDirFrom(values);
    if (!(await StationStore.exists(dataDir))) {
      // Embedded defaults: a fresh machine runs a station at once; init replaces the placeholder ID.
      await StationStore.init(dataDir, { odetteId: STATION_DEFAULTS.placeholderOdetteId });
      log.warn({ dataDir, odetteId: STATION_DEFAULTS.placeholderOdetteId }, 'no station here: created one with a placeholder Odette ID; set yours with oftp2 init --odette-id');
    }
    const station = await Station.open(dataDir, log);
    const configured = station.store.config.station.listen;
    const address = { host: values.host ?? configured.host, port: integerOption('port', values.port) ?? configured.port };
    const server = await station
      .serve((r) => {
        const e = r.ended;
        log.info({ partner: r.partner, normal: e.normal, esid: e.reason, text: e.reasonText, ...r.summary }, 'session ended');
      }, address)
      .catch(async (err) => {
        await station.close();
        throw err;
      });
    log.info({ odetteId: station.services.stationId, host: address.host, port: address.port }, 'listening');
    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        log.info({ signal }, 'stopping');
        server.close();
        resolve();
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
    await station.close();
    return 0;
  },
};
