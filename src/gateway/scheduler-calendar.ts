// Calendars for the scheduler: transmission windows and cron expressions, evaluated on wall-clock
// minutes in a time zone (the machine's by default). Pure: times are epoch milliseconds passed in.
//
// Syntax (documented for operators in the README's scheduler section):
// - A window is either `{ "days": "mon-fri", "from": "06:00", "to": "22:00" }` or `{ "cron": "…" }`.
//   `days`: day names sun..sat (or 0..7, 0 and 7 = Sunday), lists and ranges ("mon-fri", "sat,sun",
//   "mon-wed,fri"), or "*" for every day (the default). `from` inclusive, `to` exclusive, "HH:MM" in
//   24-hour time, `to` may be "24:00". `to` earlier than `from` runs past midnight: 22:00–06:00 on
//   "fri" is Friday 22:00 to Saturday 06:00. `from` = `to` is the whole day.
//   A cron window is open during every minute the expression matches ("* 6-21 * * 1-5" is the same as
//   the first example).
// - A cron expression has five fields: minute (0-59) hour (0-23) day-of-month (1-31) month (1-12 or
//   jan..dec) day-of-week (0-7 or sun..sat). Each field is "*", a number, a range "a-b", a step
//   "*/s" or "a-b/s", or a comma list of those. As in Vixie cron, when both day fields are restricted
//   a day matching either one matches. Used as a window (above) or as trigger times (dial/poll "at").

export interface CalendarFields {
  year: number;
  /** 1..12 */
  month: number;
  /** 1..31 */
  day: number;
  /** 0 = Sunday .. 6 = Saturday */
  weekday: number;
  hour: number;
  minute: number;
}

const MINUTE = 60_000;
const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const MONTH_NAMES = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** Wall-clock fields of an instant in `timeZone` (IANA name), or in the process's zone when undefined. */
export function calendarFields(ms: number, timeZone?: string): CalendarFields {
  if (timeZone === undefined) {
    const d = new Date(ms);
    return { year: d.getFullYear(), month: d.getMonth() + 1, day: d.getDate(), weekday: d.getDay(), hour: d.getHours(), minute: d.getMinutes() };
  }
  if (timeZone === 'UTC') {
    const d = new Date(ms);
    return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), weekday: d.getUTCDay(), hour: d.getUTCHours(), minute: d.getUTCMinutes() };
  }
  const parts: Record<string, string> = {};
  for (const p of formatterFor(timeZone).formatToParts(ms)) parts[p.type] = p.value;
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    weekday: DAY_NAMES.indexOf((parts.weekday ?? '').toLowerCase().slice(0, 3)),
    hour: Number(parts.hour) % 24,
    minute: Number(parts.minute),
  };
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', weekday: 'short', hour: 'numeric', minute: 'numeric' });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Whether `timeZone` is a zone this runtime knows (config validation). */
export function isTimeZone(timeZone: string): boolean {
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

export class ScheduleSyntaxError extends Error {}

// ---- cron ----

export interface CronExpression {
  source: string;
  minutes: Set<number>;
  hours: Set<number>;
  days: Set<number>;
  months: Set<number>;
  weekdays: Set<number>;
  dayRestricted: boolean;
  weekdayRestricted: boolean;
}

function parseField(text: string, min: number, max: number, names?: string[]): { values: Set<number>; restricted: boolean } {
  const values = new Set<number>();
  const value = (s: string): number => {
    const named = names?.indexOf(s.toLowerCase()) ?? -1;
    const n = named >= 0 ? named + (names === MONTH_NAMES ? 1 : 0) : /^\d+$/.test(s) ? Number(s) : Number.NaN;
    if (!Number.isInteger(n) || n < min || n > max) throw new ScheduleSyntaxError(`"${s}" is not in ${min}-${max}`);
    return n;
  };
  for (const part of text.split(',')) {
    const [range, stepText, extra] = part.split('/');
    if (extra !== undefined || range === undefined || range === '') throw new ScheduleSyntaxError(`bad field "${text}"`);
    const step = stepText === undefined ? 1 : value(stepText);
    if (step < 1) throw new ScheduleSyntaxError(`bad step in "${part}"`);
    let lo: number;
    let hi: number;
    if (range === '*') {
      lo = min;
      hi = max;
    } else if (range.includes('-')) {
      const [a, b] = range.split('-');
      lo = value(a!);
      hi = value(b!);
      if (hi < lo) throw new ScheduleSyntaxError(`range "${range}" runs backwards`);
    } else {
      lo = value(range);
      hi = stepText === undefined ? lo : max;
    }
    for (let v = lo; v <= hi; v += step) values.add(v);
  }
  return { values, restricted: text !== '*' };
}

/** Parses a five-field cron expression (syntax at the top of this file). */
export function parseCron(source: string): CronExpression {
  const fields = source.trim().split(/\s+/);
  if (fields.length !== 5) throw new ScheduleSyntaxError(`cron "${source}": needs 5 fields (minute hour day-of-month month day-of-week)`);
  try {
    const weekdays = parseField(fields[4]!, 0, 7, DAY_NAMES);
    if (weekdays.values.delete(7)) weekdays.values.add(0);
    const days = parseField(fields[2]!, 1, 31);
    return {
      source,
      minutes: parseField(fields[0]!, 0, 59).values,
      hours: parseField(fields[1]!, 0, 23).values,
      days: days.values,
      months: parseField(fields[3]!, 1, 12, MONTH_NAMES).values,
      weekdays: weekdays.values,
      dayRestricted: days.restricted,
      weekdayRestricted: weekdays.restricted,
    };
  } catch (err) {
    if (err instanceof ScheduleSyntaxError) throw new ScheduleSyntaxError(`cron "${source}": ${err.message}`);
    throw err;
  }
}

function cronDayMatches(c: CronExpression, f: CalendarFields): boolean {
  if (!c.months.has(f.month)) return false;
  const dom = c.days.has(f.day);
  const dow = c.weekdays.has(f.weekday);
  if (c.dayRestricted && c.weekdayRestricted) return dom || dow;
  return dom && dow;
}

export function cronMatches(c: CronExpression, f: CalendarFields): boolean {
  return cronDayMatches(c, f) && c.hours.has(f.hour) && c.minutes.has(f.minute);
}

// ---- windows ----

export interface WindowSpec {
  days?: string;
  from?: string;
  to?: string;
  cron?: string;
}

export type Window = { kind: 'daily'; days: Set<number>; from: number; to: number; source: string } | { kind: 'cron'; cron: CronExpression; source: string };

function parseClock(text: string, allow24: boolean): number {
  const m = /^(\d{1,2}):(\d{2})$/.exec(text);
  const minutes = m ? Number(m[1]) * 60 + Number(m[2]) : Number.NaN;
  if (!m || Number(m[2]) > 59 || minutes > (allow24 ? 1440 : 1439)) throw new ScheduleSyntaxError(`"${text}" is not a time HH:MM`);
  return minutes;
}

export function parseWindow(spec: WindowSpec): Window {
  if (spec.cron !== undefined) {
    if (spec.days !== undefined || spec.from !== undefined || spec.to !== undefined) throw new ScheduleSyntaxError('a window has either cron or days/from/to, not both');
    return { kind: 'cron', cron: parseCron(spec.cron), source: `cron ${spec.cron}` };
  }
  const daysText = spec.days ?? '*';
  let days: Set<number>;
  try {
    days = parseField(daysText === 'daily' ? '*' : daysText, 0, 7, DAY_NAMES).values;
  } catch (err) {
    throw new ScheduleSyntaxError(`days "${daysText}": ${(err as Error).message}`);
  }
  if (days.delete(7)) days.add(0);
  const from = parseClock(spec.from ?? '00:00', false);
  const to = parseClock(spec.to ?? '24:00', true);
  return { kind: 'daily', days, from, to, source: `${daysText} ${spec.from ?? '00:00'}-${spec.to ?? '24:00'}` };
}

function windowOpen(w: Window, f: CalendarFields): boolean {
  if (w.kind === 'cron') return cronMatches(w.cron, f);
  const minute = f.hour * 60 + f.minute;
  if (w.from < w.to) return w.days.has(f.weekday) && minute >= w.from && minute < w.to;
  if (w.from === w.to) return w.days.has(f.weekday);
  // Past midnight: the evening part belongs to the listed day, the morning part to the day after it.
  if (minute >= w.from) return w.days.has(f.weekday);
  return minute < w.to && w.days.has((f.weekday + 6) % 7);
}

/** Whether any of the windows is open at `ms` (no windows: always open). */
export function inWindows(windows: readonly Window[], ms: number, timeZone?: string): boolean {
  if (windows.length === 0) return true;
  const f = calendarFields(ms, timeZone);
  return windows.some((w) => windowOpen(w, f));
}

/** Search horizon: a calendar that never opens within it is treated as never. */
const HORIZON_MS = 400 * 24 * 3600_000;

/**
 * The first minute at or after `ms` for which `test` holds, or undefined within about 400 days.
 * Skips whole hours when `hourTest` fails, so a year is searched in a few thousand steps.
 */
function searchMinutes(ms: number, timeZone: string | undefined, test: (f: CalendarFields) => boolean, hourTest: (f: CalendarFields) => boolean): number | undefined {
  let t = ms;
  const end = ms + HORIZON_MS;
  while (t <= end) {
    const f = calendarFields(t, timeZone);
    if (!hourTest(f)) {
      t = t - (t % MINUTE) + (60 - f.minute) * MINUTE; // the next hour's first minute
      continue;
    }
    if (test(f)) return t;
    t = t - (t % MINUTE) + MINUTE;
  }
  return undefined;
}

/** The earliest instant ≥ `ms` at which a window is open (`ms` itself when open now). */
export function nextOpen(windows: readonly Window[], ms: number, timeZone?: string): number | undefined {
  if (inWindows(windows, ms, timeZone)) return ms;
  const hourTest = (f: CalendarFields) =>
    windows.some((w) => {
      if (w.kind === 'cron') return cronDayMatches(w.cron, f) && w.cron.hours.has(f.hour);
      for (let m = f.hour * 60; m < f.hour * 60 + 60; m++) if (windowOpen(w, { ...f, hour: Math.floor(m / 60), minute: m % 60 })) return true;
      return false;
    });
  return searchMinutes(ms, timeZone, (f) => windows.some((w) => windowOpen(w, f)), hourTest);
}

/** The first minute strictly after `ms` matched by any of the cron expressions (trigger times). */
export function nextCronFire(crons: readonly CronExpression[], ms: number, timeZone?: string): number | undefined {
  if (crons.length === 0) return undefined;
  const start = ms - (ms % MINUTE) + MINUTE;
  return searchMinutes(
    start,
    timeZone,
    (f) => crons.some((c) => cronMatches(c, f)),
    (f) => crons.some((c) => cronDayMatches(c, f) && c.hours.has(f.hour)),
  );
}
