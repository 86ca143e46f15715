// Integration hooks: when a transfer reaches a configured state (history, after the change is
// durable), run a command or POST a webhook, so a PLC/MES/ERP can react to a received file, a
// delivery (EERP), a receipt acknowledged, or a failure.
// - A command is run with execFile (no shell): the event as JSON on stdin, OFTP2_* variables in its
//   environment, killed after the timeout; its output is logged; a failure is logged, never fatal.
// - A webhook is a POST of the same JSON with a timeout; network errors, timeouts, 429 and 5xx are
//   retried (bounded, doubling delay); other answers are final.
// Hooks run at most `concurrency` at a time; a bounded queue holds the rest (overflow is logged).
import { execFile } from 'node:child_process';
import { HOOK_DEFAULTS, type HookConfig } from '../store/station-config.ts';
import type { TransferHistory, TransferRecord } from '../store/transfer-history.ts';
import type { Log } from '../station/session-handler.ts';

/** What a hook receives: on stdin (command) or as the request body (webhook). */
export interface HookEventPayload {
  event: TransferRecord['state'];
  transfer: TransferRecord;
}

export interface HooksOptions {
  /** Hooks running at once (default 4). */
  concurrency?: number;
  /** Events waiting at most (default 10,000); more are dropped with a warning. */
  maxQueued?: number;
  /** Delay before the first webhook retry, ms (default HOOK_DEFAULTS.webhookRetryDelaySeconds). */
  retryDelayMs?: number;
}

const OUTPUT_LOG_LIMIT = 4096;

export class Hooks {
  readonly #hooks: readonly HookConfig[];
  readonly #log: Log;
  readonly #concurrency: number;
  readonly #maxQueued: number;
  readonly #retryDelayMs: number;
  readonly #queue: { hook: HookConfig; payload: HookEventPayload }[] = [];
  readonly #running = new Set<Promise<void>>();
  readonly #aborts = new Set<AbortController>();

  constructor(hooks: readonly HookConfig[], log: Log, options: HooksOptions = {}) {
    this.#hooks = hooks;
    this.#log = log;
    this.#concurrency = options.concurrency ?? 4;
    this.#maxQueued = options.maxQueued ?? 10_000;
    this.#retryDelayMs = options.retryDelayMs ?? HOOK_DEFAULTS.webhookRetryDelaySeconds * 1000;
  }

  /** Fires hooks on every durable state change of `history`. Returns the unsubscribe. */
  attach(history: TransferHistory): () => void {
    return history.subscribe((record) => this.fire(record));
  }

  /** Queues the hooks that match this record's state, partner and direction. */
  fire(record: TransferRecord): void {
    for (const hook of this.#hooks) {
      if (!hook.on.includes(record.state)) continue;
      if (hook.partner !== undefined && hook.partner !== record.partner) continue;
      if (hook.direction !== undefined && hook.direction !== record.direction) continue;
      if (this.#queue.length >= this.#maxQueued) {
        this.#log.warn({ id: record.id, state: record.state, hook: describe(hook) }, 'hook dropped: too many waiting');
        continue;
      }
      this.#queue.push({ hook, payload: { event: record.state, transfer: record } });
    }
    this.#pump();
  }

  #pump(): void {
    while (this.#running.size < this.#concurrency && this.#queue.length > 0) {
      const { hook, payload } = this.#queue.shift()!;
      const run: Promise<void> = (hook.command ? this.#runCommand(hook, payload) : this.#post(hook, payload))
        .catch((err) => this.#log.warn({ hook: describe(hook), id: payload.transfer.id, err: String(err) }, 'hook failed'))
        .finally(() => {
          this.#running.delete(run);
          this.#pump();
        });
      this.#running.add(run);
    }
  }

  /** Waits for running and queued hooks, at most `timeoutMs`; then abandons them (commands are killed). */
  async drain(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.#running.size > 0 || this.#queue.length > 0) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.race([...this.#running]), new Promise((r) => (timer = setTimeout(r, left)))]);
      clearTimeout(timer);
    }
    if (this.#running.size > 0 || this.#queue.length > 0) {
      this.#log.warn({ running: this.#running.size, queued: this.#queue.length }, 'hooks abandoned at shutdown');
      this.#queue.length = 0;
      for (const a of this.#aborts) a.abort();
    }
  }

  #runCommand(hook: HookConfig, payload: HookEventPayload): Promise<void> {
    const [file, ...args] = hook.command!;
    const t = payload.transfer;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      OFTP2_EVENT: payload.event,
      OFTP2_TRANSFER_ID: t.id,
      OFTP2_DIRECTION: t.direction,
      OFTP2_STATE: t.state,
      OFTP2_PARTNER: t.partner,
      OFTP2_DATASET: t.datasetName,
      OFTP2_ORIGINATOR: t.originator,
      OFTP2_DESTINATION: t.destination,
      OFTP2_PATH: t.path ?? '',
      OFTP2_SIZE: t.size === undefined ? '' : String(t.size),
      OFTP2_REASON: t.reason ?? '',
      OFTP2_REASON_TEXT: t.reasonText ?? '',
    };
    const abort = new AbortController();
    this.#aborts.add(abort);
    const started = Date.now();
    return new Promise<void>((resolve) => {
      const child = execFile(
        file!,
        args,
        { env, timeout: hook.timeoutSeconds * 1000, killSignal: 'SIGKILL', maxBuffer: 1024 * 1024, signal: abort.signal, windowsHide: true },
        (err, stdout, stderr) => {
          this.#aborts.delete(abort);
          const obj = {
            hook: describe(hook),
            id: t.id,
            event: payload.event,
            ms: Date.now() - started,
            stdout: clip(String(stdout)),
            stderr: clip(String(stderr)),
          };
          if (!err) this.#log.info(obj, 'hook command done');
          else {
            const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: number | string; signal?: string };
            const why = e.killed ? `killed after ${hook.timeoutSeconds} s` : typeof e.code === 'number' ? `exit code ${e.code}` : (e.code ?? e.signal ?? e.message);
            this.#log.warn({ ...obj, why }, 'hook command failed');
          }
          resolve();
        },
      );
      child.stdin?.on('error', () => {}); // a command that does not read its stdin
      child.stdin?.end(`${JSON.stringify(payload)}\n`);
    });
  }

  async #post(hook: HookConfig, payload: HookEventPayload): Promise<void> {
    const body = JSON.stringify(payload);
    let delay = this.#retryDelayMs;
    for (let attempt = 1; ; attempt++) {
      const abort = new AbortController();
      this.#aborts.add(abort);
      const timer = setTimeout(() => abort.abort(new Error(`no answer within ${hook.timeoutSeconds} s`)), hook.timeoutSeconds * 1000);
      let problem: string;
      let retryable: boolean;
      try {
        const res = await fetch(hook.url!, { method: 'POST', headers: { 'content-type': 'application/json', 'user-agent': 'oftp2-gateway' }, body, signal: abort.signal });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) {
          this.#log.info({ hook: describe(hook), id: payload.transfer.id, event: payload.event, status: res.status, attempt }, 'webhook delivered');
          return;
        }
        problem = `HTTP ${res.status}`;
        retryable = res.status >= 500 || res.status === 429;
      } catch (err) {
        problem = abort.signal.aborted ? String((abort.signal.reason as Error)?.message ?? 'aborted') : String((err as Error).cause ?? (err as Error).message);
        retryable = true;
      } finally {
        clearTimeout(timer);
        this.#aborts.delete(abort);
      }
      const final = !retryable || attempt > hook.retries;
      this.#log.warn({ hook: describe(hook), id: payload.transfer.id, event: payload.event, problem, attempt, final }, final ? 'webhook failed' : 'webhook failed, will retry');
      if (final) return;
      await new Promise((r) => setTimeout(r, delay).unref());
      delay *= 2;
    }
  }
}

function describe(hook: HookConfig): string {
  return hook.command ? hook.command.join(' ') : hook.url!;
}

function clip(s: string): string | undefined {
  const t = s.trim();
  if (t.length === 0) return undefined;
  return t.length > OUTPUT_LOG_LIMIT ? `${t.slice(0, OUTPUT_LOG_LIMIT)}…` : t;
}
