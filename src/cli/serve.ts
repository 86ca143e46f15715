// `oftp2 serve`: the station's responder. Listens for partners on TCP (3305) and, when the station has
// a TLS certificate, on TLS (6619, RFC 5024 §2.3); receives their files into the inbox, sends them what
// is queued, exchanges receipts. Logs JSON lines (pino) on stdout; certificate warnings at start.
import type { Server } from 'node:net';
import { pino } from 'pino';
import { Station } from '../station/station.ts';
import { certificateStatus, certificateWarnings } from '../security/certificates-store.ts';
import { STATION_DEFAULTS, tlsListenAddress } from '../store/station-config.ts';
import { StationStore } from '../store/station-store.ts';
import { type CliCommand, parseCommandArgs } from './command.ts';
import { DATA_DIR_OPTION, DATA_DIR_USAGE, dataDirFrom, integerOption } from './station-options.ts';

export const command: CliCommand = {
  name: 'serve',
  summary: 'Run the station: accept partners’ sessions on TCP and TLS',
  usage: `oftp2 serve [options]
  --port N              listen on this port instead of the configured one (default 3305)
  --host ADDR           listen on this address instead of the configured one
  --tls-port N          listen for TLS on this port instead of the configured one (default 6619;
                        TLS is on when the station has a TLS certificate: oftp2 cert import --own)
${DATA_DIR_USAGE}`,
  async run(argv) {
    const { values } = parseCommandArgs({
      args: argv,
      options: { ...DATA_DIR_OPTION, port: { type: 'string' }, host: { type: 'string' }, 'tls-port': { type: 'string' } },
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
    const tlsConfigured = tlsListenAddress(station.store.config.station);
    const tlsAddress = { host: values.host ?? tlsConfigured.host, port: integerOption('tls-port', values['tls-port']) ?? tlsConfigured.port };
    const ended = (r: Awaited<ReturnType<Station['send']>>) => {
      const e = r.ended;
      log.info({ partner: r.partner, normal: e.normal, esid: e.reason, text: e.reasonText, ...r.summary }, 'session ended');
    };
    // Certificate warnings at start and once a day while running (expiry comes during long uptimes).
    const warnCertificates = async () => {
      for (const warning of certificateWarnings(await certificateStatus(station.store.config, station.store.paths.dataDir))) log.warn({}, warning);
    };
    await warnCertificates();
    const daily = setInterval(() => void warnCertificates().catch((err) => log.warn({ err: String(err) }, 'certificate check failed')), 24 * 3600_000);
    daily.unref();
    const servers: Server[] = [];
    try {
      servers.push(await station.serve(ended, address));
      if (tlsConfigured.enabled) {
        for (const problem of (await station.tls()).trust.problems) log.warn({}, problem);
        servers.push(await station.serveTls(ended, tlsAddress));
      }
    } catch (err) {
      for (const s of servers) s.close();
      await station.close();
      throw err;
    }
    log.info({ odetteId: station.services.stationId, host: address.host, port: address.port }, 'listening');
    if (tlsConfigured.enabled) log.info({ odetteId: station.services.stationId, host: tlsAddress.host, port: tlsAddress.port, tls: true }, 'listening for TLS');
    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        log.info({ signal }, 'stopping');
        for (const s of servers) s.close();
        clearInterval(daily);
        resolve();
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
    await station.close();
    return 0;
  },
};
