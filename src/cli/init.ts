// `oftp2 init`: creates a station's data directory with its Odette identity.
import { StationStore } from '../store/station-store.ts';
import { type CliCommand, parseCommandArgs, usageError } from './command.ts';
import { DATA_DIR_OPTION, DATA_DIR_USAGE, dataDirFrom, integerOption, withoutUndefined } from './station-options.ts';

export const command: CliCommand = {
  name: 'init',
  summary: 'Create a station: its data directory and Odette ID',
  usage: `oftp2 init --odette-id ID [options]
  --odette-id ID        this station's Odette identification code (RFC 5024 §5.4), e.g. O0013000000PLANT
  --port N              TCP port to listen on (default 3305)
  --host ADDR           address to listen on (default 0.0.0.0)
  --buffer-size N       largest exchange buffer offered, 128..99999 octets (default 99999)
  --credit N            buffers in flight before a CDT, 1..999 (default 999)
${DATA_DIR_USAGE}`,
  async run(argv) {
    const { values } = parseCommandArgs({
      args: argv,
      options: {
        ...DATA_DIR_OPTION,
        'odette-id': { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        'buffer-size': { type: 'string' },
        credit: { type: 'string' },
      },
    });
    if (!values['odette-id']) throw usageError('--odette-id is required');
    const station: Record<string, unknown> = { odetteId: values['odette-id'] };
    const port = integerOption('port', values.port);
    if (port !== undefined || values.host) station.listen = withoutUndefined({ port, host: values.host });
    station.exchangeBufferSize = integerOption('buffer-size', values['buffer-size']);
    station.credit = integerOption('credit', values.credit);
    const store = await StationStore.init(dataDirFrom(values), withoutUndefined(station) as { odetteId: string });
    const s = store.config.station;
    process.stdout.write(
      `station ${s.odetteId} created in ${store.paths.dataDir}\nlistens on ${s.listen.host}:${s.listen.port}; add partners with: oftp2 partner add\n`,
    );
    return 0;
  },
};
