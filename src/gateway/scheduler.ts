// The scheduler's runtime: the decision core (scheduler-core.ts) joined to the real clock and the
// station. It arms one timer at the core's next deadline, starts the dials the core asks for, feeds
// their ends (and those of admitted dial-ins, through the station's SessionGate) back, and tells
// listeners when the picture changed (status file, `oftp2 status`).
//
// The outbox watcher (src/gateway/outbox*) calls `notifyQueued(partner)` after it has put files into
// the spool for a partner: a burst of calls makes one session (debounce), and a call while a session
// with the partner runs makes a new one after it if files are still queued.
import type { SessionEnded } from '../session/types.ts';
import type { Log } from '../station/session-handler.ts';
import type { SessionGate, SessionResult } from '../station/station.ts';
import type { SessionOutcome } from './retry-policy.ts';
import { type Dial, type PartnerStatus, SchedulerCore, type SchedulerPlan } from './scheduler-core.ts';

/** What the outbox watcher needs of the scheduler. */
export interface QueueNotifier {
  /** Files were put in the spool for `partner` (its local name). Cheap; call once per file or per batch. */
  notifyQueued(partner: string): void;
}

export interface SchedulerDeps {
  /** Dials the partner and runs one session (Station.send). */
  dial(partner: string): Promise<SessionResult>;
  /** Files in the spool for the partner (Spool.list(partner).length). */
  queuedCount(partner: string): Promise<number>;
  log: Log;
  /** Epoch milliseconds; Date.now by default. */
  clock?: () => number;
  random?: () => number;
}

/** The longest single timer: re-evaluated at least hourly, so wall-clock jumps are caught up. */
const MAX_TIMER_MS = 3600_000;

export class Scheduler implements QueueNotifier {
  readonly #core: SchedulerCore;
  readonly #deps: SchedulerDeps;
  readonly #clock: () => number;
  readonly #dials = new Set<Promise<void>>();
  readonly #listeners = new Set<() => void>();
  #timer: NodeJS.Timeout | undefined;
  #timerAt: number | undefined;
  #stopped = false;

  constructor(plan: SchedulerPlan, deps: SchedulerDeps) {
    this.#deps = deps;
    this.#clock = deps.clock ?? Date.now;
    this.#core = new SchedulerCore(plan, this.#clock(), deps.random);
  }

  /** Queues every partner that already has files in the spool (left from before a restart), then runs. */
  async start(partners: readonly string[]): Promise<void> {
    for (const partner of partners) {
      if ((await this.#deps.queuedCount(partner).catch(() => 0)) > 0) this.#core.notifyQueued(partner, this.#clock());
    }
    this.#tick();
  }

  notifyQueued(partner: string): void {
    if (this.#stopped) return;
    this.#core.notifyQueued(partner, this.#clock());
    this.#arm();
    this.#changed();
  }

  /** Lifts an operator hold and any backoff: the partner is dialled as soon as it has a reason. */
  release(partner: string): void {
    this.#core.release(partner);
    this.#tick();
  }

  /** A new configuration: partners whose configuration changed are released from holds. */
  configure(plan: SchedulerPlan): void {
    this.#core.configure(plan, this.#clock());
    this.#tick();
  }

  /** The SessionGate for Station: dial-in windows and session limits, and the ends of dial-ins. */
  readonly gate: SessionGate = {
    admit: (partner) => {
      const decision = this.#core.admitInbound(partner, this.#clock());
      if (decision.accept) {
        this.#changed();
        return undefined;
      }
      this.#deps.log.warn({ partner, esid: decision.esidReason, text: decision.text }, 'dial-in refused');
      return { esidReason: decision.esidReason, text: decision.text };
    },
    released: (partner, ended) => {
      void this.#settle(partner, ended, 'in');
    },
  };

  status(): PartnerStatus[] {
    return this.#core.status(this.#clock());
  }

  /** Calls `listener` after anything the status shows may have changed. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Stops dialling and refuses new dial-ins; resolves once running dials have ended (Station.close ends them). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#core.stop();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await Promise.all([...this.#dials]);
  }

  /** Waits until no dial started by the scheduler is running (tests, benchmarks). */
  async idle(): Promise<void> {
    while (this.#dials.size > 0) await Promise.all([...this.#dials]);
  }

  #changed(): void {
    for (const l of this.#listeners) l();
  }

  #tick(): void {
    if (this.#stopped) return;
    for (const dial of this.#core.poll(this.#clock())) this.#start(dial);
    this.#arm();
    this.#changed();
  }

  #arm(): void {
    if (this.#stopped) return;
    const now = this.#clock();
    const deadline = this.#core.nextDeadline(now);
    if (deadline === undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#timerAt = undefined;
      return;
    }
    const at = Math.min(deadline, now + MAX_TIMER_MS);
    if (this.#timer && this.#timerAt === at) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = undefined;
      this.#tick();
    }, Math.max(0, at - now));
  }

  #start(dial: Dial): void {
    const log = this.#deps.log;
    log.info({ partner: dial.partner, purpose: dial.purpose, attempt: dial.attempt }, 'dialling');
    const run = this.#deps.dial(dial.partner).then(
      (result) => this.#settle(dial.partner, result.ended, 'out', result),
      (err: unknown) => {
        const code = (err as { code?: string }).code;
        const outcome: SessionOutcome = {
          normal: false,
          origin: 'transport',
          reason: undefined,
          text: err instanceof Error ? err.message : String(err),
          configProblem: code === 'OFTP_ERR_CONFIG',
        };
        return this.#settle(dial.partner, outcome, 'out');
      },
    );
    const tracked = run.catch((err) => log.warn({ partner: dial.partner, err: String(err) }, 'scheduler failed to settle a session')).finally(() => this.#dials.delete(tracked));
    this.#dials.add(tracked);
  }

  async #settle(partner: string, ended: SessionEnded | SessionOutcome | undefined, direction: 'in' | 'out', result?: SessionResult): Promise<void> {
    const outcome: SessionOutcome = ended
      ? 'text' in ended
        ? ended
        : { normal: ended.normal, origin: ended.origin, reason: ended.reason, text: ended.reasonText }
      : { normal: false, origin: 'transport', reason: undefined, text: 'session failed' };
    const still = await this.#deps.queuedCount(partner).catch(() => 0);
    const now = this.#clock();
    if (direction === 'in') {
      this.#core.inboundEnded(partner, outcome, still, now);
    } else {
      const decision = this.#core.outboundEnded(partner, outcome, still, now);
      const st = this.#core.status(now).find((s) => s.partner === partner);
      const obj = { partner, normal: outcome.normal, retry: decision.action, cause: decision.cause, stillQueued: still, nextDialAt: st?.nextDialAt ? new Date(st.nextDialAt).toISOString() : undefined, ...result?.summary };
      if (outcome.normal) this.#deps.log.info(obj, 'dial ended');
      else this.#deps.log.warn({ ...obj, why: decision.why }, decision.action === 'operator' ? 'dial failed: partner held until its configuration changes' : 'dial failed');
    }
    this.#tick();
  }
}
