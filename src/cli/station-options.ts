// Options every station command shares: where the data directory is.
// Order: --data-dir, then $OFTP2_DATA_DIR, then ./oftp2-data (the appliance's unit sets the variable).
import { usageError } from './command.ts';

export const DATA_DIR_OPTION = { 'data-dir': { type: 'string', short: 'd' } } as const;

export const DATA_DIR_USAGE =
  '  -d, --data-dir DIR    station data directory (default: $OFTP2_DATA_DIR, else ./oftp2-data)';

export function dataDirFrom(values: { 'data-dir'?: string }): string {
  return values['data-dir'] ?? process.env.OFTP2_DATA_DIR ?? 'oftp2-data';
}

/** Parses a whole number option, or throws a usage error naming it. */
export function integerOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw usageError(`--${name} takes a whole number, got "${value}"`);
  return Number(value);
}

/** Drops keys whose value is undefined, so schema defaults apply to options not given. */
export function withoutUndefined<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
