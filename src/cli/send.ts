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
  --copy                queue a copy of each FILE, free to change once queued (default: the spool
                        shares the file, hard-linked, and a file changed before it is sent is not sent)
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
        copy: { type: 'boolean' },
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
      await queueInOrder(
        files,
        (file) => station.enqueue(partnerName, { path: file, datasetName: values.dataset, format, recordLength, description: values.description, transfer: values.copy ? 'copy' : 'share' }),
        (file, entry) => process.stdout.write(`queued ${file} as ${entry.meta.datasetName}\n`),
      );
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

/** Files being queued at once by send: each waits mostly on fsyncs, which share journal commits. */
const QUEUE_AT_ONCE = 8;

/**
 * Queues `files` a few at a time (QUEUE_AT_ONCE), started in the order given, which is the order the
 * spool numbers and sends them (Spool.enqueue); `queued` reports each in that order. After a failure
 * no further file is started; those in flight finish (and are reported), then the first error is thrown.
 */
export async function queueInOrder<T>(files: readonly string[], queue: (file: string) => Promise<T>, queued: (file: string, result: T) => void): Promise<void> {
  const inFlight: { file: string; result: Promise<T> }[] = [];
  let failure: { error: unknown } | undefined;
  const settleOldest = async () => {
    const { file, result } = inFlight.shift()!;
    try {
      queued(file, await result);
    } catch (error) {
      failure ??= { error };
    }
  };
  for (const file of files) {
    if (inFlight.length >= QUEUE_AT_ONCE) await settleOldest();
    if (failure) break;
    const result = queue(file);
    result.catch(() => {}); // awaited in order by settleOldest
    inFlight.push({ file, result });
  }
  while (inFlight.length > 0) await settleOldest();
  if (failure) throw failure.error;
}
