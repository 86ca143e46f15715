// The scheduler's decision core on a virtual clock: debounce, windows, polls, cron triggers, backoff
// with seeded jitter, the retry decision per ESID reason, session limits and dial-in admission.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BACKOFF_DEFAULTS, type SessionOutcome, seededRandom } from '../../src/gateway/retry-policy.ts';
import { parseCron, parseWindow, type WindowSpec } from '../../src/gateway/scheduler-calendar.ts';
import { type Dial, type PartnerPlan, SchedulerCore, type SchedulerPlan } from '../../src/gateway/scheduler-core.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
/** Monday 2026-11-23 00:00 UTC. */
const MONDAY = Date.UTC(2026, 10, 23);
const at = (day: number, hh: number, mm = 0) => MONDAY + day * 24 * HOUR + hh * HOUR + mm * MIN;

function partner(name: string, over: Partial<PartnerPlan> & { windowSpecs?: WindowSpec[]; dialInSpecs?: WindowSpec[]; dialAtSpecs?: string[]; pollAtSpecs?: string[] } = {}): PartnerPlan {
  const { windowSpecs, dialInSpecs, dialAtSpecs, pollAtSpecs, ...rest } = over;
  return {
    name,
    dialable: true,
    dialOnQueue: true,
    windows: (windowSpecs ?? []).map(parseWindow),
    dialAt: (dialAtSpecs ?? []).map(parseCron),
    pollEveryMs: undefined,
    pollAt: (pollAtSpecs ?? []).map(parseCron),
    dialInWindows: (dialInSpecs ?? []).map(parseWindow),
    retry: BACKOFF_DEFAULTS,
    configKey: name,
    ...rest,
  };
}

function plan(partners: PartnerPlan[], over: Partial<SchedulerPlan> = {}): SchedulerPlan {
  return { timeZone: 'UTC', maxSessions: 8, maxSessionsPerPartner: 1, debounceMs: 250, maxDebounceMs: 1000, partners, ...over };
}

/** A virtual clock driving the core like the runtime does: jump to each deadline, poll, collect dials. */
class Clock {
  now: number;
  readonly core: SchedulerCore;
  readonly dials: (Dial & { at: number })[] = [];
  constructor(core: SchedulerCore, start: number) {
    this.core = core;
    this.now = start;
  }
  /** Runs every deadline up to `until` (inclusive); returns the dials started meanwhile. */
  runUntil(until: number): (Dial & { at: number })[] {
    const started: (Dial & { at: number })[] = [];
    for (let guard = 0; guard < 10_000; guard++) {
      const d = this.core.nextDeadline(this.now);
      for (const dial of this.core.poll(this.now)) started.push({ ...dial, at: this.now });
      if (d === undefined || d > until) break;
      this.now = Math.max(this.now, d);
      for (const dial of this.core.poll(this.now)) started.push({ ...dial, at: this.now });
    }
    this.now = Math.max(this.now, until);
    this.dials.push(...started);
    return started;
  }
  /** Advances to the first instant up to `until` at which dials start, and returns them ([] if none). */
  next(until: number): (Dial & { at: number })[] {
    for (let guard = 0; guard < 10_000; guard++) {
      const dials = this.core.poll(this.now);
      if (dials.length > 0) return dials.map((d) => ({ ...d, at: this.now }));
      const d = this.core.nextDeadline(this.now);
      if (d === undefined || d > until) break;
      this.now = Math.max(this.now, d);
    }
    this.now = until;
    return [];
  }
}

const normal: SessionOutcome = { normal: true, origin: 'remote', reason: 0, text: 'Normal session termination' };
const esid = (reason: number, origin: SessionOutcome['origin'] = 'remote'): SessionOutcome => ({ normal: false, origin, reason, text: `ESID ${reason}` });
const lost: SessionOutcome = { normal: false, origin: 'transport', reason: undefined, text: 'ECONNREFUSED' };

test('a burst of drops makes one dial, after the debounce (and no later than the maximum debounce)', () => {
  const core = new SchedulerCore(plan([partner('acme')]), at(0, 10));
  const clock = new Clock(core, at(0, 10));
  for (let i = 0; i < 5; i++) {
    core.notifyQueued('acme', clock.now + i * 50);
  }
  assert.equal(core.nextDeadline(clock.now), at(0, 10) + 200 + 250);
  assert.deepEqual(clock.runUntil(at(0, 10) + 449), []);
  const dials = clock.runUntil(at(0, 10) + 10_000);
  assert.deepEqual(dials, [{ partner: 'acme', purpose: 'queued', attempt: 1, at: at(0, 10) + 450 }]);

  // A steady trickle: one drop every 200 ms never lets the debounce settle; the maximum (1 s) dials.
  const core2 = new SchedulerCore(plan([partner('acme')]), at(0, 10));
  for (let t = 0; t <= 2000; t += 200) {
    const dials2 = core2.poll(at(0, 10) + t);
    if (dials2.length > 0) {
      assert.equal(t, 1000);
      return;
    }
    core2.notifyQueued('acme', at(0, 10) + t);
  }
  assert.fail('no dial within 2 s of a trickle');
});

test('files queued during a session dial again after it ends; files it took do not', () => {
  const core = new SchedulerCore(plan([partner('acme')]), at(0, 10));
  const clock = new Clock(core, at(0, 10));
  core.notifyQueued('acme', clock.now);
  assert.equal(clock.runUntil(at(0, 10) + 1000).length, 1);
  core.notifyQueued('acme', clock.now); // while the session runs
  assert.deepEqual(clock.runUntil(at(0, 10) + 5000), [], 'one session per partner at a time');
  core.outboundEnded('acme', normal, 3, clock.now);
  const again = clock.runUntil(clock.now + 1000);
  assert.equal(again.length, 1);
  assert.equal(again[0]!.purpose, 'queued');
  // This session took everything, including what came during it: no third dial.
  core.notifyQueued('acme', clock.now);
  core.outboundEnded('acme', normal, 0, clock.now + 10);
  assert.deepEqual(clock.runUntil(clock.now + HOUR), []);
  assert.equal(core.nextDeadline(clock.now), undefined);
});

test('transmission windows: a drop on Saturday waits for Monday 06:00; a window past midnight', () => {
  const weekdays = partner('acme', { windowSpecs: [{ days: 'mon-fri', from: '06:00', to: '22:00' }] });
  const core = new SchedulerCore(plan([weekdays]), at(5, 10));
  const clock = new Clock(core, at(5, 10)); // Saturday 10:00
  core.notifyQueued('acme', clock.now);
  assert.equal(core.status(clock.now)[0]!.phase, 'waiting-window');
  assert.equal(core.nextDeadline(clock.now), at(7, 6)); // next Monday 06:00
  const dials = clock.runUntil(at(8, 0));
  assert.deepEqual(dials.map((d) => [d.purpose, d.at]), [['queued', at(7, 6)]]);

  // Friday 22:00 to Saturday 06:00: open on Saturday 05:59, closed on Saturday 22:00.
  const night = partner('night', { windowSpecs: [{ days: 'fri', from: '22:00', to: '06:00' }] });
  const core2 = new SchedulerCore(plan([night]), at(5, 5, 59));
  core2.notifyQueued('night', at(5, 5, 59));
  assert.equal(core2.nextDeadline(at(5, 5, 59)), at(5, 5, 59) + 250);
  const core3 = new SchedulerCore(plan([night]), at(5, 6));
  core3.notifyQueued('night', at(5, 6));
  assert.equal(core3.nextDeadline(at(5, 6)), at(11, 22)); // the next Friday 22:00

  // A cron window: the same weekday hours as the first.
  const cronWin = partner('cron', { windowSpecs: [{ cron: '* 6-21 * * 1-5' }] });
  const core4 = new SchedulerCore(plan([cronWin]), at(5, 10));
  core4.notifyQueued('cron', at(5, 10));
  assert.equal(core4.nextDeadline(at(5, 10)), at(7, 6));
});

test('polls: at start, then every interval after the last session (a dial-in counts); pollAt times', () => {
  const p = partner('acme', { pollEveryMs: 10 * MIN });
  const core = new SchedulerCore(plan([p]), at(0, 8));
  const clock = new Clock(core, at(0, 8));
  const first = clock.runUntil(at(0, 8));
  assert.deepEqual(first.map((d) => d.purpose), ['poll']);
  core.outboundEnded('acme', normal, 0, at(0, 8, 1));
  clock.now = at(0, 8, 1);
  assert.equal(core.nextDeadline(clock.now), at(0, 8, 11));
  // The partner calls at 08:05: that session collected, so the next poll moves to 08:15.
  assert.deepEqual(core.admitInbound('acme', at(0, 8, 5)), { accept: true });
  core.inboundEnded('acme', normal, 0, at(0, 8, 5));
  clock.now = at(0, 8, 5);
  const polls = clock.runUntil(at(0, 8, 16));
  assert.deepEqual(polls.map((d) => [d.purpose, d.at]), [['poll', at(0, 8, 15)]]);

  // pollAt: every 4 hours on the hour, inside the window only.
  const q = partner('q', { pollAtSpecs: ['0 */4 * * *'], windowSpecs: [{ from: '06:00', to: '20:00' }] });
  const core2 = new SchedulerCore(plan([q]), at(0, 0, 30));
  const clock2 = new Clock(core2, at(0, 0, 30));
  const times: number[] = [];
  for (let d = clock2.next(at(1, 0)); d.length > 0; d = clock2.next(at(1, 0))) {
    times.push(d[0]!.at);
    clock2.now = d[0]!.at + MIN;
    core2.outboundEnded('q', normal, 0, clock2.now);
  }
  // 04:00 fires outside the window: the poll waits for 06:00; 08, 12, 16 on time; 20:00 waits for tomorrow.
  assert.deepEqual(times, [at(0, 6), at(0, 8), at(0, 12), at(0, 16)]);
});

test('dialAt: with dialOnQueue off, queued files go at the scheduled times only', () => {
  const p = partner('batch', { dialOnQueue: false, dialAtSpecs: ['0 2 * * *'] });
  const core = new SchedulerCore(plan([p]), at(0, 10));
  const clock = new Clock(core, at(0, 10));
  core.notifyQueued('batch', clock.now);
  const dials = clock.runUntil(at(2, 0));
  assert.deepEqual(dials.map((d) => [d.purpose, d.at]), [['scheduled', at(1, 2)]]);
  core.outboundEnded('batch', normal, 0, at(1, 2, 5));
  // Nothing queued at the next 02:00: no dial.
  assert.deepEqual(clock.runUntil(at(3, 0)).length, 0);
});

test('backoff: exponential with ±20 % jitter, capped at an hour, the same for the same seed', () => {
  const delays = (seed: number) => {
    const core = new SchedulerCore(plan([partner('acme')]), at(0, 0), seededRandom(seed));
    const clock = new Clock(core, at(0, 0));
    core.notifyQueued('acme', clock.now);
    const out: number[] = [];
    let last = clock.runUntil(at(0, 0) + 1000)[0]!;
    for (let i = 0; i < 10; i++) {
      const endedAt = last.at + 5000;
      clock.now = endedAt;
      core.outboundEnded('acme', lost, 1, endedAt);
      assert.equal(core.status(endedAt)[0]!.phase, 'backoff');
      const next = clock.next(endedAt + 2 * HOUR);
      assert.equal(next.length, 1);
      assert.equal(next[0]!.purpose, 'retry');
      assert.equal(next[0]!.attempt, i + 2);
      out.push(next[0]!.at - endedAt);
      last = next[0]!;
    }
    return out;
  };
  const a = delays(42);
  assert.deepEqual(delays(42), a, 'seeded jitter repeats');
  assert.notDeepEqual(delays(7), a, 'another seed jitters differently');
  const ideal = [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600];
  a.forEach((ms, i) => {
    assert.ok(ms >= ideal[i]! * 800 && ms <= ideal[i]! * 1200, `retry ${i + 1}: ${ms} ms vs ${ideal[i]} s ±20 %`);
  });
  // A normal session resets the backoff.
  const core = new SchedulerCore(plan([partner('acme')]), at(0, 0), seededRandom(1));
  core.notifyQueued('acme', at(0, 0));
  core.poll(at(0, 0) + 1000);
  core.outboundEnded('acme', lost, 1, at(0, 0) + 2000);
  core.poll(at(0, 1));
  core.outboundEnded('acme', normal, 0, at(0, 1) + 1000);
  assert.equal(core.status(at(0, 2))[0]!.attempts, 0);
});

test('the retry decision per ESID reason: hold, back off, wait, or nothing', () => {
  const cases: [SessionOutcome, 'held' | 'backoff' | 'later' | 'idle'][] = [
    [esid(3), 'held'],
    [esid(4), 'held'],
    [esid(10), 'held'],
    [esid(11), 'held'],
    [esid(12), 'held'],
    [esid(1), 'backoff'],
    [esid(2), 'backoff'],
    [esid(6), 'backoff'],
    [esid(7), 'backoff'],
    [esid(8), 'backoff'],
    [esid(9), 'backoff'],
    [esid(9, 'local'), 'backoff'],
    [esid(99), 'backoff'],
    [esid(42), 'backoff'],
    [lost, 'backoff'],
    [esid(5), 'later'],
    [{ normal: false, origin: 'transport', reason: undefined, text: 'no host', configProblem: true }, 'held'],
  ];
  for (const [outcome, expected] of cases) {
    const start = at(0, 10);
    const core = new SchedulerCore(plan([partner('acme')]), start, seededRandom(3));
    core.notifyQueued('acme', start);
    assert.equal(core.poll(start + 1000).length, 1);
    const ended = start + 2000;
    core.outboundEnded('acme', outcome, 1, ended);
    const st = core.status(ended)[0]!;
    const label = `ESID ${outcome.reason} (${outcome.origin})`;
    if (expected === 'held') {
      assert.equal(st.phase, 'held', label);
      assert.equal(core.nextDeadline(ended), undefined, `${label}: no dial until the operator acts`);
      assert.deepEqual(core.poll(ended + 24 * HOUR), [], label);
      core.notifyQueued('acme', ended + 24 * HOUR);
      assert.deepEqual(core.poll(ended + 25 * HOUR), [], `${label}: new drops do not lift the hold`);
    } else if (expected === 'backoff') {
      assert.equal(st.phase, 'backoff', label);
      const next = core.nextDeadline(ended)!;
      assert.ok(next - ended >= 24_000 && next - ended <= 36_000, `${label}: first retry after 30 s ±20 %, got ${next - ended}`);
    } else if (expected === 'later') {
      assert.equal(core.nextDeadline(ended), ended + 300_000, `${label}: 5 min after the partner's ESID 05`);
      assert.equal(st.attempts, 0, 'ESID 05 is not counted as a failure');
    }
  }
  // A hold ends when the partner's configuration changes (or the operator releases it).
  const core = new SchedulerCore(plan([partner('acme')]), at(0, 10));
  core.notifyQueued('acme', at(0, 10));
  core.poll(at(0, 10) + 1000);
  core.outboundEnded('acme', esid(4), 1, at(0, 10) + 2000);
  core.configure(plan([partner('acme')]), at(0, 11));
  assert.equal(core.status(at(0, 11))[0]!.phase, 'held', 'the same configuration keeps the hold');
  core.configure(plan([partner('acme', { configKey: 'acme with the new password' })]), at(0, 11));
  assert.equal(core.poll(at(0, 11)).length, 1, 'a changed configuration dials again');
  core.outboundEnded('acme', esid(3), 1, at(0, 12));
  core.release('acme');
  assert.equal(core.poll(at(0, 12)).length, 1, 'release dials again');
});

test('a normal session leaving files the partner deferred (SFNA retry=Y) offers them again after backoff', () => {
  const core = new SchedulerCore(plan([partner('acme')]), at(0, 10), seededRandom(9));
  core.notifyQueued('acme', at(0, 10));
  core.poll(at(0, 10) + 1000);
  core.outboundEnded('acme', normal, 2, at(0, 10) + 5000);
  const next = core.nextDeadline(at(0, 10) + 5000)!;
  assert.ok(next - (at(0, 10) + 5000) >= 24_000, 'not at once: the partner said later');
  assert.deepEqual(core.poll(next).map((d) => d.purpose), ['retry']);
});

test('session limits: overall and per partner, dial-ins included; waiting dials start when a slot frees', () => {
  const core = new SchedulerCore(plan([partner('a'), partner('b'), partner('c')], { maxSessions: 2 }), at(0, 10));
  for (const p of ['a', 'b', 'c']) core.notifyQueued(p, at(0, 10));
  const first = core.poll(at(0, 10) + 1000);
  assert.deepEqual(first.map((d) => d.partner), ['a', 'b']);
  assert.equal(core.status(at(0, 10) + 1000).find((s) => s.partner === 'c')!.phase, 'waiting-slot');
  assert.equal(core.nextDeadline(at(0, 10) + 1000), undefined, 'nothing to wake up for until a session ends');
  const refused = core.admitInbound('c', at(0, 10) + 1500);
  assert.deepEqual(refused, { accept: false, esidReason: 8, text: "the station's limit of 2 sessions is reached" });
  core.outboundEnded('a', normal, 0, at(0, 10) + 2000);
  assert.deepEqual(core.poll(at(0, 10) + 2000).map((d) => d.partner), ['c']);

  // Per partner: a partner that called in is not dialled meanwhile, and a second call is refused.
  const core2 = new SchedulerCore(plan([partner('a')]), at(0, 10));
  assert.deepEqual(core2.admitInbound('a', at(0, 10)), { accept: true });
  core2.notifyQueued('a', at(0, 10));
  assert.deepEqual(core2.poll(at(0, 10) + 5000), []);
  assert.equal(core2.admitInbound('a', at(0, 10) + 6000).accept, false);
  core2.inboundEnded('a', normal, 1, at(0, 10) + 7000); // it left a file (e.g. it only sent)
  assert.deepEqual(core2.poll(at(0, 10) + 8000).map((d) => d.purpose), ['queued']);
  assert.equal(core2.admitInbound('a', at(0, 10) + 8100).accept, false, 'our dial-out occupies the partner');
});

test('dial-in windows: calls outside are refused with ESID 08; a stopping station refuses all', () => {
  const p = partner('acme', { dialInSpecs: [{ days: 'mon-fri', from: '08:00', to: '17:00' }] });
  const core = new SchedulerCore(plan([p]), at(0, 7));
  assert.deepEqual(core.admitInbound('acme', at(0, 7, 59)), { accept: false, esidReason: 8, text: 'outside the dial-in window agreed for this partner' });
  assert.deepEqual(core.admitInbound('acme', at(0, 8)), { accept: true });
  core.inboundEnded('acme', normal, 0, at(0, 8, 5));
  assert.equal(core.admitInbound('acme', at(5, 9)).accept, false, 'Saturday');
  core.stop();
  assert.equal(core.admitInbound('acme', at(1, 9)).accept, false);
  core.notifyQueued('acme', at(1, 9));
  assert.deepEqual(core.poll(at(1, 10)), []);
});

test('a partner without a host is never dialled, only called by', () => {
  const core = new SchedulerCore(plan([partner('inbound', { dialable: false, pollEveryMs: MIN })]), at(0, 10));
  core.notifyQueued('inbound', at(0, 10));
  assert.deepEqual(core.poll(at(0, 11)), []);
  assert.equal(core.nextDeadline(at(0, 11)), undefined);
});
