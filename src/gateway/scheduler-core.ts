// The scheduler's decision core: when to dial which partner, and whether to admit a partner calling in.
// Sans-I/O (GUIDE principle 1): it is told the time, the files queued, the sessions that start and
// end; it answers with dials to start now and the next instant it wants to be asked again. The
// runtime (scheduler.ts) arms the one timer and runs the sessions; tests drive it with a virtual clock.
//
// Theory of operation, per partner:
// - Reasons to dial: files queued (debounced: a burst of drops makes one session; with `dialOnQueue`),
//   a `dialAt` time reached with files queued, a poll due (interval or `pollAt` times; a poll dials
//   even with nothing queued, to collect). A reason stays until a session ends normally.
// - Gates: not held for the operator, below the per-partner and overall session limits, not before
//   the retry time, and inside a transmission window (none configured: always). A reason that comes
//   due outside the windows waits for the next opening.
// - A session's end feeds the retry policy (retry-policy.ts): normal resets the backoff; transient
//   trouble backs off exponentially with jitter; the partner's ESID 05 waits `laterSeconds`; an
//   ESID that needs a configuration change holds the partner until `configure` changes its config or
//   `release` is called. Files still queued after a normal session dial again when more came during
//   it, and with backoff when the partner deferred them (SFNA retry=Y, §5.3.5).
// - Dial-ins are admitted inside the partner's dial-in windows and below the limits; otherwise
//   refused with ESID 08 "resources not available" (§5.3.11).
import { type BackoffConfig, backoffDelayMs, decideRetry, type RetryDecision, type SessionOutcome } from './retry-policy.ts';
import { type CronExpression, inWindows, nextCronFire, nextOpen, type Window } from './scheduler-calendar.ts';

/** One partner's schedule, parsed (see scheduler-plan.ts for the config it comes from). */
export interface PartnerPlan {
  name: string;
  /** The partner has a host we can dial. */
  dialable: boolean;
  /** Dial as soon as files are queued (after the debounce). */
  dialOnQueue: boolean;
  /** Transmission windows for dialling out (empty: any time). */
  windows: Window[];
  /** Dial at these times when files are queued. */
  dialAt: CronExpression[];
  /** Dial to collect every this many ms (measured from the last session with the partner). */
  pollEveryMs: number | undefined;
  /** Dial to collect at these times. */
  pollAt: CronExpression[];
  /** Accept the partner's calls only inside these windows (empty: always). */
  dialInWindows: Window[];
  retry: BackoffConfig;
  /** A fingerprint of the partner's whole configuration: when it changes, an operator hold is lifted. */
  configKey: string;
}

export interface SchedulerPlan {
  /** IANA zone for windows and cron; undefined: the machine's. */
  timeZone: string | undefined;
  /** Sessions at once, both directions together. */
  maxSessions: number;
  /** Sessions at once with one partner, both directions together. */
  maxSessionsPerPartner: number;
  /** Wait this long after the last drop of a burst before dialling… */
  debounceMs: number;
  /** …but no longer than this after the first drop. */
  maxDebounceMs: number;
  partners: PartnerPlan[];
}

export type DialPurpose = 'queued' | 'scheduled' | 'poll' | 'retry';

export interface Dial {
  partner: string;
  purpose: DialPurpose;
  /** The attempt number since the last normal session (1 = first try). */
  attempt: number;
}

export type Admission = { accept: true } | { accept: false; esidReason: 8; text: string };

export interface LastResult {
  at: number;
  direction: 'out' | 'in';
  normal: boolean;
  cause: string;
  action: RetryDecision['action'];
}

/**
 * 'pending': a dial is planned (debounce, poll interval); 'waiting-window': until a transmission
 * window opens; 'waiting-slot': due, but a session limit is reached; 'backoff': after a failure;
 * 'held': until the configuration changes (operator action).
 */
export type PartnerPhase = 'idle' | 'pending' | 'waiting-window' | 'waiting-slot' | 'backoff' | 'held' | 'running';

export interface PartnerStatus {
  partner: string;
  phase: PartnerPhase;
  queued: boolean;
  running: { in: number; out: number };
  /** Consecutive failed dials since the last normal session. */
  attempts: number;
  /** When the next dial will happen (if nothing changes), epoch ms. */
  nextDialAt: number | undefined;
  /** Why the next dial will happen. */
  nextPurpose: DialPurpose | undefined;
  held: { cause: string; since: number } | undefined;
  lastResult: LastResult | undefined;
}

interface PartnerState {
  plan: PartnerPlan;
  queued: boolean;
  burstStart: number | undefined;
  lastNotify: number | undefined;
  /** Files were queued while a session ran. */
  dirty: boolean;
  running: { in: number; out: number };
  attempts: number;
  retryAt: number | undefined;
  held: { cause: string; since: number } | undefined;
  scheduledDue: boolean;
  pollDue: boolean;
  lastSessionAt: number | undefined;
  nextDialAtFire: number | undefined;
  nextPollAtFire: number | undefined;
  lastResult: LastResult | undefined;
}

export class SchedulerCore {
  #plan: SchedulerPlan;
  readonly #random: () => number;
  readonly #partners = new Map<string, PartnerState>();
  #stopping = false;

  constructor(plan: SchedulerPlan, now: number, random: () => number = Math.random) {
    this.#plan = plan;
    this.#random = random;
    this.configure(plan, now);
  }

  /** Takes a new plan. A partner whose plan changed is released from an operator hold. */
  configure(plan: SchedulerPlan, now: number): void {
    this.#plan = plan;
    const seen = new Set<string>();
    for (const p of plan.partners) {
      seen.add(p.name);
      const old = this.#partners.get(p.name);
      if (old) {
        if (old.plan.configKey !== p.configKey) old.held = undefined;
        old.plan = p;
        this.#armCrons(old, now);
        continue;
      }
      const state: PartnerState = {
        plan: p,
        queued: false,
        burstStart: undefined,
        lastNotify: undefined,
        dirty: false,
        running: { in: 0, out: 0 },
        attempts: 0,
        retryAt: undefined,
        held: undefined,
        scheduledDue: false,
        // An interval poll runs at start: collect what piled up while the station was down.
        pollDue: p.pollEveryMs !== undefined,
        lastSessionAt: undefined,
        nextDialAtFire: undefined,
        nextPollAtFire: undefined,
        lastResult: undefined,
      };
      this.#partners.set(p.name, state);
      this.#armCrons(state, now);
    }
    for (const name of [...this.#partners.keys()]) if (!seen.has(name) && this.#total(name) === 0) this.#partners.delete(name);
  }

  #armCrons(s: PartnerState, now: number): void {
    s.nextDialAtFire = nextCronFire(s.plan.dialAt, now, this.#plan.timeZone);
    s.nextPollAtFire = nextCronFire(s.plan.pollAt, now, this.#plan.timeZone);
  }

  /** Files were queued for `partner` (the outbox watcher, `oftp2 send --queue`, start-up with a full spool). */
  notifyQueued(partner: string, now: number): void {
    const s = this.#partners.get(partner);
    if (!s) return;
    if (s.running.out + s.running.in > 0) s.dirty = true;
    if (!s.queued || s.burstStart === undefined) s.burstStart = now;
    s.queued = true;
    s.lastNotify = now;
  }

  /** The operator released a held partner (or asked for a dial now): forget the hold and the backoff. */
  release(partner: string): void {
    const s = this.#partners.get(partner);
    if (!s) return;
    s.held = undefined;
    s.retryAt = undefined;
  }

  /** No more dials; sessions ending from now on are not retried when we ended them with ESID 05. */
  stop(): void {
    this.#stopping = true;
  }

  #total(partner?: string): number {
    if (partner !== undefined) {
      const r = this.#partners.get(partner)?.running;
      return r ? r.in + r.out : 0;
    }
    let n = 0;
    for (const s of this.#partners.values()) n += s.running.in + s.running.out;
    return n;
  }

  /** A partner is calling in (its SSID checked out): admit it, or refuse with ESID 08. */
  admitInbound(partner: string, now: number): Admission {
    const s = this.#partners.get(partner);
    if (this.#stopping) return { accept: false, esidReason: 8, text: 'the station is shutting down' };
    if (s && !inWindows(s.plan.dialInWindows, now, this.#plan.timeZone)) {
      return { accept: false, esidReason: 8, text: 'outside the dial-in window agreed for this partner' };
    }
    if (this.#total() >= this.#plan.maxSessions) return { accept: false, esidReason: 8, text: `the station's limit of ${this.#plan.maxSessions} sessions is reached` };
    if (s && this.#total(partner) >= this.#plan.maxSessionsPerPartner) return { accept: false, esidReason: 8, text: 'a session with this partner is already running' };
    if (s) s.running.in++;
    return { accept: true };
  }

  /** An admitted dial-in ended. `stillQueued`: files left in the spool for the partner. */
  inboundEnded(partner: string, outcome: SessionOutcome, stillQueued: number, now: number): void {
    const s = this.#partners.get(partner);
    if (!s) return;
    s.running.in = Math.max(0, s.running.in - 1);
    const decision = decideRetry(outcome, this.#stopping);
    s.lastResult = { at: now, direction: 'in', normal: outcome.normal, cause: decision.cause, action: decision.action };
    if (outcome.normal) {
      // The partner's call exchanged files both ways: it counts as a collection.
      s.lastSessionAt = now;
      if (s.plan.pollEveryMs !== undefined) s.pollDue = false;
    }
    this.#afterSession(s, stillQueued, now, outcome.normal, 'in');
  }

  /** The dial started by `poll` ended (or failed to connect). */
  outboundEnded(partner: string, outcome: SessionOutcome, stillQueued: number, now: number): RetryDecision {
    const s = this.#partners.get(partner);
    const decision = decideRetry(outcome, this.#stopping);
    if (!s) return decision;
    s.running.out = Math.max(0, s.running.out - 1);
    s.lastResult = { at: now, direction: 'out', normal: outcome.normal, cause: decision.cause, action: decision.action };
    switch (decision.action) {
      case 'none':
        s.attempts = 0;
        s.retryAt = undefined;
        s.scheduledDue = false;
        s.pollDue = false;
        s.lastSessionAt = now;
        this.#afterSession(s, stillQueued, now, true, 'out');
        return decision;
      case 'backoff':
        s.attempts++;
        s.retryAt = now + backoffDelayMs(s.attempts, s.plan.retry, this.#random);
        break;
      case 'later':
        s.retryAt = now + s.plan.retry.laterSeconds * 1000;
        break;
      case 'operator':
        s.held = { cause: decision.cause, since: now };
        break;
      case 'stop':
        break;
    }
    if (stillQueued > 0) s.queued = true;
    s.dirty = false;
    return decision;
  }

  #afterSession(s: PartnerState, stillQueued: number, now: number, normal: boolean, direction: 'in' | 'out'): void {
    if (stillQueued === 0) {
      s.queued = false;
      s.burstStart = undefined;
    } else if (s.dirty || !normal || direction === 'in') {
      // More files came while the session ran (or it broke off): dial again after a debounce.
      s.queued = true;
      s.burstStart = now;
      s.lastNotify = now;
    } else if (s.running.out === 0) {
      // The session ended normally and left files queued that were there all along: the partner
      // deferred them (SFNA with retry, §5.3.5). Offer them again after backoff.
      s.queued = true;
      s.attempts++;
      s.retryAt = now + backoffDelayMs(s.attempts, s.plan.retry, this.#random);
    }
    s.dirty = false;
  }

  /** Why the partner wants a dial, and from when, ignoring limits; undefined when it wants none. */
  #want(s: PartnerState, now: number): { at: number; purpose: DialPurpose; windowed: boolean } | undefined {
    const p = s.plan;
    if (!p.dialable || s.held || this.#stopping) return undefined;
    let want: { at: number; purpose: DialPurpose } | undefined;
    const consider = (at: number, purpose: DialPurpose) => {
      if (!want || at < want.at) want = { at, purpose };
    };
    if (s.queued && p.dialOnQueue) {
      const last = s.lastNotify ?? now;
      const first = s.burstStart ?? last;
      consider(Math.min(last + this.#plan.debounceMs, first + this.#plan.maxDebounceMs), 'queued');
    }
    if (s.scheduledDue && s.queued) consider(now, 'scheduled');
    if (s.pollDue) consider(now, 'poll');
    if (p.pollEveryMs !== undefined && !s.pollDue && s.lastSessionAt !== undefined) consider(s.lastSessionAt + p.pollEveryMs, 'poll');
    if (!want) return undefined;
    let at: number = want.at;
    let purpose: DialPurpose = want.purpose;
    if (s.retryAt !== undefined && s.retryAt > at) {
      at = s.retryAt;
      purpose = 'retry';
    }
    const open = nextOpen(p.windows, at, this.#plan.timeZone);
    if (open === undefined) return undefined;
    return { at: open, purpose, windowed: open > at };
  }

  /** Fires cron triggers and interval polls that came due. */
  #advanceCrons(s: PartnerState, now: number): void {
    const tz = this.#plan.timeZone;
    if (s.nextDialAtFire !== undefined && s.nextDialAtFire <= now) {
      if (s.queued) s.scheduledDue = true;
      s.nextDialAtFire = nextCronFire(s.plan.dialAt, now, tz);
    }
    if (s.nextPollAtFire !== undefined && s.nextPollAtFire <= now) {
      s.pollDue = true;
      s.nextPollAtFire = nextCronFire(s.plan.pollAt, now, tz);
    }
    const every = s.plan.pollEveryMs;
    if (every !== undefined && s.lastSessionAt !== undefined && now >= s.lastSessionAt + every) s.pollDue = true;
  }

  /**
   * The dials to start now, earliest-due first, within the limits. Each returned dial counts as a
   * running session until `outboundEnded` is called for it.
   */
  poll(now: number): Dial[] {
    const candidates: { s: PartnerState; at: number; purpose: DialPurpose }[] = [];
    for (const s of this.#partners.values()) {
      this.#advanceCrons(s, now);
      const want = this.#want(s, now);
      if (want && want.at <= now) candidates.push({ s, ...want });
    }
    candidates.sort((a, b) => a.at - b.at || (a.s.plan.name < b.s.plan.name ? -1 : 1));
    const dials: Dial[] = [];
    for (const c of candidates) {
      if (this.#total() >= this.#plan.maxSessions) break;
      if (this.#total(c.s.plan.name) >= this.#plan.maxSessionsPerPartner) continue;
      c.s.running.out++;
      c.s.dirty = false;
      c.s.burstStart = undefined;
      dials.push({ partner: c.s.plan.name, purpose: c.purpose, attempt: c.s.attempts + 1 });
    }
    return dials;
  }

  /**
   * The next instant `poll` may have something to do (epoch ms), or undefined when only an event
   * (a drop, a session's end, a call) can change anything.
   */
  nextDeadline(now: number): number | undefined {
    let next: number | undefined;
    const consider = (t: number | undefined) => {
      if (t !== undefined && (next === undefined || t < next)) next = t;
    };
    const full = this.#total() >= this.#plan.maxSessions;
    for (const s of this.#partners.values()) {
      consider(s.nextDialAtFire);
      consider(s.nextPollAtFire);
      if (full || this.#total(s.plan.name) >= this.#plan.maxSessionsPerPartner) continue;
      const want = this.#want(s, now);
      if (want) consider(Math.max(want.at, now));
    }
    return next;
  }

  status(now: number): PartnerStatus[] {
    const out: PartnerStatus[] = [];
    for (const s of this.#partners.values()) {
      const want = this.#want(s, now);
      const running = s.running.in + s.running.out > 0;
      let phase: PartnerPhase = 'idle';
      if (running) phase = 'running';
      else if (s.held) phase = 'held';
      else if (want) {
        if (want.windowed) phase = 'waiting-window';
        else if (want.purpose === 'retry') phase = 'backoff';
        else if (want.at <= now) phase = 'waiting-slot';
        else phase = 'pending';
      }
      let nextDialAt = want?.at;
      let nextPurpose = want?.purpose;
      if (s.plan.dialable && !s.held && nextDialAt === undefined) {
        const poll = s.nextPollAtFire;
        if (poll !== undefined) {
          nextDialAt = nextOpen(s.plan.windows, poll, this.#plan.timeZone);
          nextPurpose = 'poll';
        }
      }
      out.push({
        partner: s.plan.name,
        phase,
        queued: s.queued,
        running: { ...s.running },
        attempts: s.attempts,
        nextDialAt,
        nextPurpose,
        held: s.held,
        lastResult: s.lastResult,
      });
    }
    return out;
  }
}

