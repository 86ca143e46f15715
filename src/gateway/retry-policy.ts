// When to dial a partner again after a session, following what the protocol says each ending means.
// RFC 5024 §5.3.11 (ESID reasons), §5.3.5 (SFNA retry flag), §5.3.14 (NERP). Pure: no clock, no I/O;
// the backoff takes its randomness as an argument so tests can seed it.
//
// What is per file is settled by the station during the session and never retried here:
// - SFNA with SFNARETR = N: final for that file (history 'failed', removed from the spool);
// - SFNA with SFNARETR = Y: the file stays queued and is offered again in a later session, which this
//   policy schedules with backoff ("deferred");
// - EFNA: final for that file; NERP (§5.3.14): the file will not be delivered, final.
// What is per session (the ESID that ended it, or the transport) decides the next dial, table below.

/**
 * What the scheduler does after a session ended this way:
 * - 'none': nothing to retry (normal end); dial again only for files still queued.
 * - 'backoff': a transient trouble; dial again after exponential backoff with jitter.
 * - 'later': the far side is going down on purpose; dial again after the fixed `laterSeconds`.
 * - 'operator': retrying cannot help until someone changes the configuration (ours or the
 *   partner's): the partner is held, no automatic dials, until the configuration changes or an
 *   operator releases it (restart, `oftp2 send`).
 * - 'stop': we ended it ourselves because the station is shutting down; nothing to schedule.
 */
export type RetryAction = 'none' | 'backoff' | 'later' | 'operator' | 'stop';

export interface EsidRetryRule {
  /** The RFC's text for the reason code (§5.3.11). */
  meaning: string;
  action: RetryAction;
  why: string;
}

/** The retry decision for every ESID reason code of RFC 5024 §5.3.11. */
export const ESID_RETRY: Readonly<Record<number, EsidRetryRule>> = {
  0: { meaning: 'Normal session termination', action: 'none', why: 'the session did its work; files still queued are dialled for again' },
  1: { meaning: 'Command not recognised', action: 'backoff', why: 'usually a corrupted buffer on a poor line; a stack that truly lacks the command fails again and the backoff reaches its maximum' },
  2: { meaning: 'Protocol violation', action: 'backoff', why: 'often a race or a lost buffer; persistent ones climb to the maximum backoff and show in status' },
  3: { meaning: 'User code not known', action: 'operator', why: 'an Odette ID is wrong on one side: only a configuration change helps' },
  4: { meaning: 'Invalid password', action: 'operator', why: 'a password is wrong on one side; retrying may also lock the account at the partner' },
  5: { meaning: 'Local site emergency close down', action: 'later', why: 'the far side is shutting down or restarting: try again after a pause, without counting a failure' },
  6: { meaning: 'Command contained invalid data', action: 'backoff', why: 'as 01: corruption is transient, a real incompatibility reaches the maximum backoff' },
  7: { meaning: 'Exchange Buffer size error', action: 'backoff', why: 'as 01' },
  8: { meaning: 'Resources not available', action: 'backoff', why: 'the partner is busy (too many sessions, a session of ours still open, outside its window)' },
  9: { meaning: 'Time out', action: 'backoff', why: 'a slow or broken link or peer; transient' },
  10: { meaning: 'Mode or capabilities incompatible', action: 'operator', why: 'the SSID parameters (level, send/receive, buffer size) do not fit: a configuration change is needed' },
  11: { meaning: 'Invalid challenge response', action: 'operator', why: 'the authentication certificates or keys do not match' },
  12: { meaning: 'Secure authentication requirements incompatible', action: 'operator', why: 'one side requires secure authentication the other does not do' },
  99: { meaning: 'Unspecified Abort code', action: 'backoff', why: 'unknown trouble at the far side; assume it is transient' },
};

/** A transport that dropped without an ESID, or a connection that could not be made. */
export const TRANSPORT_LOSS_RULE: EsidRetryRule = {
  meaning: 'Transport lost (no ESID) or connection failed',
  action: 'backoff',
  why: 'network trouble or the partner is down; transient',
};

/** How one session (or dial attempt) ended, as far as scheduling cares. */
export interface SessionOutcome {
  /** ESID 00 exchanged at the right time. */
  normal: boolean;
  /** Who ended it; 'transport' covers a dropped connection and a dial that never connected. */
  origin: 'local' | 'remote' | 'transport';
  /** ESID reason sent or received, undefined when the transport dropped. */
  reason: number | undefined;
  /** Operator-readable text for logs and status. */
  text: string;
  /** The dial failed on our own configuration (no host, no certificate…): nothing changes until it does. */
  configProblem?: boolean;
}

export interface RetryDecision {
  action: RetryAction;
  /** e.g. 'ESID 04 Invalid password (remote)' */
  cause: string;
  why: string;
}

/** The retry decision for a session's end (the table above; §5.3.11). */
export function decideRetry(outcome: SessionOutcome, stopping = false): RetryDecision {
  if (outcome.normal) return { action: 'none', cause: 'ESID 00 Normal session termination', why: ESID_RETRY[0]!.why };
  if (outcome.configProblem) return { action: 'operator', cause: `configuration: ${outcome.text}`, why: 'our own configuration prevents the dial' };
  if (outcome.reason === undefined) {
    return { action: 'backoff', cause: `${TRANSPORT_LOSS_RULE.meaning}: ${outcome.text}`, why: TRANSPORT_LOSS_RULE.why };
  }
  const code = String(outcome.reason).padStart(2, '0');
  // Our own ESID 05 is the station closing down: the scheduler is stopping too.
  if (outcome.reason === 5 && outcome.origin === 'local' && stopping) {
    return { action: 'stop', cause: `ESID 05 sent: station shutting down`, why: 'the daemon is stopping' };
  }
  const rule = ESID_RETRY[outcome.reason] ?? ESID_RETRY[99]!;
  return { action: rule.action, cause: `ESID ${code} ${rule.meaning} (${outcome.origin})`, why: rule.why };
}

/** Exponential backoff with jitter. Units: seconds. */
export interface BackoffConfig {
  /** First retry delay. */
  baseSeconds: number;
  /** Each further failure multiplies the delay by this. */
  factor: number;
  /** Delays never exceed this (before jitter). */
  maxSeconds: number;
  /** Fraction 0..1: the delay is spread uniformly over ±jitter of itself, so partners restarted together do not all dial at once. */
  jitter: number;
  /** The pause after a partner's ESID 05 (it is going down on purpose). */
  laterSeconds: number;
}

export const BACKOFF_DEFAULTS: BackoffConfig = {
  /** 30 s: long enough for a partner's daemon restart, short enough that a blip costs little. */
  baseSeconds: 30,
  /** Doubling: 30 s, 1 min, 2 min, 4 min… */
  factor: 2,
  /** 1 h: a partner down for a day is still tried every hour. */
  maxSeconds: 3600,
  /** ±20 %. */
  jitter: 0.2,
  /** 5 min after ESID 05: a planned restart or maintenance. */
  laterSeconds: 300,
};

/**
 * Delay before retry number `attempt` (1 for the first retry), in milliseconds.
 * `random` returns [0, 1) (Math.random, or a seeded generator in tests).
 */
export function backoffDelayMs(attempt: number, config: BackoffConfig, random: () => number): number {
  const exponent = Math.max(0, attempt - 1);
  const raw = Math.min(config.maxSeconds, config.baseSeconds * config.factor ** exponent);
  const spread = raw * config.jitter * (2 * random() - 1);
  return Math.max(0, Math.round((raw + spread) * 1000));
}

/** A small seeded PRNG (mulberry32): the same seed gives the same jitter in tests. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
