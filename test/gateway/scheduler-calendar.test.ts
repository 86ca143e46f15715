// Windows and cron expressions: parsing, matching, the next opening and the next firing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { calendarFields, inWindows, nextCronFire, nextOpen, parseCron, parseWindow, ScheduleSyntaxError } from '../../src/gateway/scheduler-calendar.ts';

const utc = (s: string) => Date.parse(`${s}Z`);

test('cron fields: lists, ranges, steps, names, Sunday as 0 or 7, Vixie day-of-month/day-of-week rule', () => {
  const c = parseCron('*/15 6-8,20 * jan-mar mon-fri');
  assert.deepEqual([...c.minutes], [0, 15, 30, 45]);
  assert.deepEqual([...c.hours], [6, 7, 8, 20]);
  assert.deepEqual([...c.months], [1, 2, 3]);
  assert.deepEqual([...c.weekdays], [1, 2, 3, 4, 5]);
  assert.deepEqual([...parseCron('0 0 * * 7').weekdays], [0]);
  assert.deepEqual([...parseCron('0 0 * * 5/1').weekdays], [5, 6, 0], 'a step from a start runs to the end (7 is Sunday)');
  // Both day fields restricted: the 1st of the month OR a Monday.
  const either = parseCron('0 12 1 * mon');
  assert.equal(nextCronFire([either], utc('2026-11-24T00:00:00')), utc('2026-11-30T12:00:00'));
  assert.equal(nextCronFire([either], utc('2026-11-30T13:00:00')), utc('2026-12-01T12:00:00'));
  for (const bad of ['* * * *', '60 * * * *', '* 24 * * *', '* * 0 * *', '* * * 13 *', '* * * * 8', '5-1 * * * *', '*/0 * * * *', 'a * * * *', '1/2/3 * * * *']) {
    assert.throws(() => parseCron(bad), ScheduleSyntaxError, bad);
  }
});

test('nextCronFire is strictly after the instant and crosses months and years', () => {
  const daily2 = parseCron('0 2 * * *');
  assert.equal(nextCronFire([daily2], utc('2026-11-23T02:00:00')), utc('2026-11-24T02:00:00'));
  assert.equal(nextCronFire([daily2], utc('2026-11-23T01:59:30')), utc('2026-11-23T02:00:00'));
  assert.equal(nextCronFire([parseCron('30 4 29 2 *')], utc('2026-03-01T00:00:00')), undefined, 'no 29 February within the horizon');
  assert.equal(nextCronFire([parseCron('0 0 1 1 *')], utc('2026-11-23T00:00:00')), utc('2027-01-01T00:00:00'));
  assert.equal(nextCronFire([], 0), undefined);
});

test('windows: days/from/to with defaults, past midnight, whole days, cron; next opening', () => {
  const office = parseWindow({ days: 'mon-fri', from: '06:00', to: '22:00' });
  const tz = 'UTC';
  assert.equal(inWindows([office], utc('2026-11-23T06:00:00'), tz), true);
  assert.equal(inWindows([office], utc('2026-11-23T21:59:59'), tz), true);
  assert.equal(inWindows([office], utc('2026-11-23T22:00:00'), tz), false, 'to is exclusive');
  assert.equal(inWindows([office], utc('2026-11-28T12:00:00'), tz), false, 'Saturday');
  assert.equal(nextOpen([office], utc('2026-11-27T22:00:00'), tz), utc('2026-11-30T06:00:00'));
  assert.equal(nextOpen([office], utc('2026-11-24T10:17:31'), tz), utc('2026-11-24T10:17:31'), 'open now: now');
  const weekend = parseWindow({ days: 'sat,sun' });
  assert.equal(inWindows([office, weekend], utc('2026-11-28T03:00:00'), tz), true, 'any window open');
  const night = parseWindow({ days: 'fri', from: '22:00', to: '06:00' });
  assert.equal(inWindows([night], utc('2026-11-27T23:00:00'), tz), true);
  assert.equal(inWindows([night], utc('2026-11-28T05:59:00'), tz), true, 'Saturday morning belongs to Friday night');
  assert.equal(inWindows([night], utc('2026-11-27T05:00:00'), tz), false, 'Friday morning belongs to Thursday');
  assert.equal(inWindows([parseWindow({ from: '00:00', to: '24:00' })], utc('2026-11-27T23:59:00'), tz), true);
  assert.equal(inWindows([parseWindow({ days: 'wed', from: '09:00', to: '09:00' })], utc('2026-11-25T03:00:00'), tz), true, 'from = to: the whole day');
  assert.equal(inWindows([], 0, tz), true, 'no windows: always open');
  for (const bad of [{ from: '25:00' }, { to: '12:60' }, { days: 'funday' }, { cron: '* * * * *', days: 'mon' }, { from: '24:00' }]) {
    assert.throws(() => parseWindow(bad), ScheduleSyntaxError, JSON.stringify(bad));
  }
});

test('time zones: windows follow local wall-clock time across a DST change', () => {
  const berlin = 'Europe/Berlin';
  const f = calendarFields(utc('2026-07-01T04:30:00'), berlin);
  assert.deepEqual([f.hour, f.minute, f.weekday], [6, 30, 3]);
  const morning = parseWindow({ from: '06:00', to: '07:00' });
  // Summer: 06:00 Berlin is 04:00 UTC; winter: 05:00 UTC. DST ended on 2026-10-25.
  assert.equal(nextOpen([morning], utc('2026-10-24T08:00:00'), berlin), utc('2026-10-25T05:00:00'));
  assert.equal(nextOpen([morning], utc('2026-10-23T08:00:00'), berlin), utc('2026-10-24T04:00:00'));
});
