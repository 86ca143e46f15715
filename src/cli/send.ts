// `oftp2 send PARTNER [FILES…]`: queue files, dial the partner, send them and whatever else is queued,
// take what the partner has for us, exchange receipts, close.
import { describeEsid } from '../protocol/reason-codes.ts';
import { type CliCommand, parseCommandArgs, usageError } from './command.ts';
import { ProgressBar } from './progress-bar.ts';
import { DATA_DIR_OPTION, DATA_DIR_USAGE, dataDirFrom, integerOption } from './station-options.ts';

const FORMATS = ['U', 'T', 'F', 'V'] as const;

export const command: CliCommand = {
  name: 'send',
  summary: 'Send files to a partner now (and collect what it has for us)',
  usage: `oftp2 send PARTNER [FILE…] [options]
  FILE…                 files to queue before dialling; files queued earlier go too
  --dataset NAME        virtual file name (one FILE only; default: the file name, upper-cased, see README)
  --format U|T|F|V      virtual file format (default U)
  --record-length N     record length for F, longest record for V
  --description TEXT    SFID description (default: the original file name)
${DATA_DIR_USAGE}`,
  async run(argv) {
    const { values, positionals } = parseCommandArgs({
      args: argv,
      allowPositionals: true,
      options: {
        ...DATA_DIR_OPTION,
        dataset: { type: 'string' },
        format: { type: 'string' },
        'record-length': { type: 'string' },
        description: { type: 'string' },
      },
    });
    const [partnerName, ...files] = positionals;
    if (!partnerName) throw usageError('name the PARTNER to send to');
    if (values.dataset && files.length !== 1) throw usageError('--dataset goes with exactly one FILE');
    const format = (values.format ?? 'U').toUpperCase() as (typeof FORMATS)[number];
    if (!FORMATS.includes(format)) throw usageError(`--format is one of U, T, F, V`);
    const recordLength = integerOption('record-length', values['record-length']);
    if (format === 'F' && !recordLength) throw usageError('format F needs --record-length');

    const warn = (obj: object, msg: string) => process.stderr.write(`oftp2: ${msg} ${JSON.stringify(obj)}\n`);
    // Loaded here, not at the top: see src/cli/command.ts (the CLI loads every command module).
    const { Station } = await import('../station/station.ts');
    // The file just sent leaves the spool in a detached process: deleting it must not delay our exit.
    const station = await Station.open(dataDirFrom(values), { info() {}, warn }, { detachedRemoval: true });
    try {
      for (const file of files) {
        const entry = await station.enqueue(partnerName, { path: file, datasetName: values.dataset, format, recordLength, description: values.description });
        process.stdout.write(`queued ${file} as ${entry.meta.datasetName}\n`);
      }
      const bar = ProgressBar.forTerminal();
      const result = await station.send(partnerName, (p) => bar?.update(p.datasetName, p.octets, p.total));
      bar?.done();
      const s = result.summary;
      process.stdout.write(`sent ${s.sent}, received ${s.received}, failed ${s.failed}; receipts sent ${s.receiptsSent}, received ${s.receiptsReceived}\n`);
      if (!result.ended.normal) {
        const reason = result.ended.reason;
        const why = reason === undefined ? result.ended.reasonText : `ESID ${String(reason).padStart(2, '0')} ${describeEsid(reason)}${result.ended.reasonText ? `: ${result.ended.reasonText}` : ''}`;
        process.stderr.write(`oftp2: session with ${partnerName} ended abnormally (${why})\n`);
        return 1;
      }
      return s.failed > 0 ? 1 : 0;
    } finally {
      await station.close();
    }
  },
};
