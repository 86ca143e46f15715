// `oftp2 status`: the station at a glance. Its identity and listeners; whether the daemon runs; per
// partner the files waiting (spool), the scheduler's phase, the last session's result and the next
// planned dial (from the daemon's snapshot, state/daemon-status.json); certificate warnings; recent
// failures (history). Reads only: safe while `oftp2 serve` runs. --json for scripts and monitoring.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DaemonStatus } from '../gateway/daemon.ts';
import { isAlive } from '../process-alive.ts';
import { tlsListenAddress } from '../store/station-config.ts';
import { StationStore } from '../store/station-store.ts';
import { TransferHistory, type TransferRecord } from '../store/transfer-history.ts';
import { type CliCommand, parseCommandArgs } from './command.ts';
import { table } from './partner.ts';
import { DATA_DIR_OPTION, DATA_DIR_USAGE, dataDirFrom, integerOption } from './station-options.ts';
import { historyDir } from './transfers.ts';

export interface StationStatusReport {
  odetteId: string;
  daemon: { running: boolean; pid?: number; startedAt?: string; updatedAt?: string };
  listeners: { host: string; port: number; tls: boolean }[];
  partners: {
    name: string;
    odetteId: string;
    dials: string;
    /** Files in the spool for the partner. */
    queued: number;
    phase?: string;
    nextDialAt?: string;
    nextPurpose?: string;
    attempts?: number;
    held?: { cause: string; since: string };
    lastResult?: { at: string; direction: string; normal: boolean; cause: string };
  }[];
  certificateWarnings: string[];
  recentFailures: Pick<TransferRecord, 'id' | 'direction' | 'partner' | 'datasetName' | 'reason' | 'reasonText' | 'updatedAt'>[];
}

export const command: CliCommand = {
  name: 'status',
  summary: 'Show the station, its partners’ queues and dials, and warnings',
  usage: `oftp2 status [options]
  --failures N          show the N most recent failures (default 5)
  --json                one JSON object instead of text
${DATA_DIR_USAGE}`,
  async run(argv) {
    const { values } = parseCommandArgs({
      args: argv,
      options: { ...DATA_DIR_OPTION, json: { type: 'boolean' }, failures: { type: 'string' } },
    });
    const report = await stationStatus(dataDirFrom(values), integerOption('failures', values.failures) ?? 5);
    process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatStatus(report));
    return 0;
  },
};

/** Gathers the report (reads config, the daemon's snapshot, the spool folders, history, certificates). */
export async function stationStatus(dataDir: string, failures = 5): Promise<StationStatusReport> {
  const store = await StationStore.open(dataDir);
  const config = store.config;
  // Loaded here, not at the top: see src/cli/command.ts (the CLI loads every command module).
  const { DAEMON_STATUS_FILE } = await import('../gateway/daemon.ts');
  const snapshot = await readSnapshot(join(store.paths.state, DAEMON_STATUS_FILE));
  const running = snapshot?.running === true && isAlive(snapshot.pid);
  const listen = config.station.listen;
  const tls = tlsListenAddress(config.station);
  const listeners = running
    ? snapshot.listeners
    : [{ host: listen.host, port: listen.port, tls: false }, ...(tls.enabled ? [{ host: tls.host, port: tls.port, tls: true }] : [])];
  const scheduled = new Map((snapshot?.partners ?? []).map((p) => [p.partner, p]));
  const partners: StationStatusReport['partners'] = [];
  for (const p of config.partners) {
    const s = scheduled.get(p.name);
    const dials = !p.host ? 'dial-in only' : p.schedule?.dialOnQueue === false ? 'on schedule' : 'when queued';
    partners.push({
      name: p.name,
      odetteId: p.odetteId,
      dials,
      queued: await spoolCount(join(store.paths.spool, p.name)),
      ...(running && s ? { phase: s.phase, nextDialAt: s.nextDialAt, nextPurpose: s.nextPurpose, attempts: s.attempts, held: s.held } : {}),
      lastResult: s?.lastResult,
    });
  }
  const history = await TransferHistory.open({ dir: historyDir(store.paths.state) });
  let recent: TransferRecord[];
  try {
    recent = history.list({ state: 'failed', limit: failures });
  } finally {
    await history.close();
  }
  const { certificateStatus, certificateWarnings } = await import('../security/certificates-store.ts');
  let warnings: string[];
  try {
    warnings = certificateWarnings(await certificateStatus(config, store.paths.dataDir));
  } catch (err) {
    warnings = [`certificates could not be checked: ${(err as Error).message}`];
  }
  return {
    odetteId: config.station.odetteId,
    daemon: running ? { running: true, pid: snapshot.pid, startedAt: snapshot.startedAt, updatedAt: snapshot.updatedAt } : { running: false, updatedAt: snapshot?.updatedAt },
    listeners,
    partners,
    certificateWarnings: warnings,
    recentFailures: recent.map((r) => ({ id: r.id, direction: r.direction, partner: r.partner, datasetName: r.datasetName, reason: r.reason, reasonText: r.reasonText, updatedAt: r.updatedAt })),
  };
}

export function formatStatus(r: StationStatusReport): string {
  const out: string[] = [];
  const when = (iso: string | undefined) => (iso ? iso.replace('T', ' ').slice(0, 19) : '');
  out.push(`station  ${r.odetteId}`);
  out.push(r.daemon.running ? `daemon   running (pid ${r.daemon.pid}, since ${when(r.daemon.startedAt)})` : 'daemon   not running (oftp2 serve, or systemctl start oftp2)');
  out.push(`listen   ${r.listeners.map((l) => `${l.host}:${l.port}${l.tls ? ' (TLS)' : ''}`).join(', ')}`);
  out.push('');
  if (r.partners.length === 0) out.push('no partners (oftp2 partner add)');
  else {
    const rows = [['PARTNER', 'DIALS', 'QUEUED', 'STATE', 'NEXT DIAL', 'LAST SESSION']];
    for (const p of r.partners) {
      const state = p.held ? `held: ${p.held.cause}` : p.phase === undefined ? '' : p.attempts ? `${p.phase} (${p.attempts} failed)` : p.phase;
      const last = p.lastResult ? `${when(p.lastResult.at)} ${p.lastResult.direction} ${p.lastResult.normal ? 'ok' : p.lastResult.cause}` : '';
      rows.push([p.name, p.dials, String(p.queued), state, p.nextDialAt ? `${when(p.nextDialAt)} ${p.nextPurpose ?? ''}`.trim() : '', last]);
    }
    out.push(table(rows).trimEnd());
  }
  if (r.certificateWarnings.length > 0) {
    out.push('', 'certificates:');
    for (const w of r.certificateWarnings) out.push(`  ${w}`);
  }
  if (r.recentFailures.length > 0) {
    out.push('', 'recent failures:');
    for (const f of r.recentFailures) out.push(`  ${when(f.updatedAt)}  ${f.direction} ${f.partner} ${f.datasetName}  ${`${f.reason ?? ''} ${f.reasonText ?? ''}`.trim()}`);
  }
  return `${out.join('\n')}\n`;
}

async function readSnapshot(path: string): Promise<DaemonStatus | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as DaemonStatus;
  } catch {
    return undefined;
  }
}

/** Spool entries for a partner: complete entries are folders named <seq>-<key> (see src/files/spool.ts). */
async function spoolCount(dir: string): Promise<number> {
  try {
    return (await readdir(dir)).filter((name) => !name.startsWith('.')).length;
  } catch {
    return 0;
  }
}

