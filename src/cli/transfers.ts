// `oftp2 transfers`: what was sent and received, with its latest state.
import { join } from 'node:path';
import { StationStore } from '../store/station-store.ts';
import { TransferHistory, type TransferState } from '../store/transfer-history.ts';
import { type CliCommand, parseCommandArgs, usageError } from './command.ts';
import { table } from './partner.ts';
import { DATA_DIR_OPTION, DATA_DIR_USAGE, dataDirFrom, integerOption } from './station-options.ts';

const STATES: readonly TransferState[] = ['queued', 'sending', 'sent', 'delivered', 'failed', 'receiving', 'received', 'acknowledged'];

export const command: CliCommand = {
  name: 'transfers',
  summary: 'List sent and received files with their state',
  usage: `oftp2 transfers [options]
  --partner NAME        only this partner's transfers
  --state STATE         only transfers in this state (${STATES.join(', ')})
  --limit N             at most N rows, newest first (default 50)
  --json                one JSON object per line instead of a table
${DATA_DIR_USAGE}`,
  async run(argv) {
    const { values } = parseCommandArgs({
      args: argv,
      options: {
        ...DATA_DIR_OPTION,
        partner: { type: 'string' },
        state: { type: 'string' },
        limit: { type: 'string' },
        json: { type: 'boolean' },
      },
    });
    const state = values.state as TransferState | undefined;
    if (state !== undefined && !STATES.includes(state)) throw usageError(`unknown state "${state}"`);
    const store = await StationStore.open(dataDirFrom(values));
    const history = await TransferHistory.open({ dir: historyDir(store.paths.state) });
    try {
      const rows = history.list({ partner: values.partner, state, limit: integerOption('limit', values.limit) ?? 50 });
      if (values.json) {
        for (const r of rows) process.stdout.write(`${JSON.stringify(r)}\n`);
      } else if (rows.length === 0) {
        process.stdout.write('no transfers\n');
      } else {
        process.stdout.write(
          table([
            ['UPDATED', 'DIR', 'PARTNER', 'DATASET', 'STATE', 'SIZE', 'REASON'],
            ...rows.map((r) => [
              r.updatedAt.replace('T', ' ').slice(0, 19),
              r.direction,
              r.partner,
              r.datasetName,
              r.state,
              r.size === undefined ? '' : String(r.size),
              r.reasonText ? `${r.reason ?? ''} ${r.reasonText}`.trim() : '',
            ]),
          ]),
        );
      }
    } finally {
      await history.close();
    }
    return 0;
  },
};

export const historyDir = (stateDir: string): string => join(stateDir, 'history');
