// Names between the share and virtual files (RFC 5024 §5.3.3 SFIDDSN/SFIDDATE/SFIDTIME/SFIDDESC).
// Outbound (a dropped file → SFIDDSN), src/station/dataset-name.ts: the base name upper-cased, every
// character outside 0-9 A-Z - . & ( ) becomes '-', cut to 26, leading dots dropped, empty → 'FILE'.
// Two drops mapping to one dataset name stay distinct: their SFIDDATE/SFIDTIME differ (the timestamp
// allocator's counter within a second, a new second for level 1/2 partners). The original name, any
// characters, travels in SFIDDESC (level 5), where the receiver may use it.
// Inbound (a received virtual file → inbox file name): '<DSN>_<CCYYMMDD>_<HHMMSS>_<cccc>', e.g.
// ORDERS_20261122_101500_0001. The name is unique per identity from one originator; two originators
// using the same name and stamp collide and the later file gets '~1', '~2'… (never an overwrite; the
// station commits with link-no-replace). In the DSN part, '/' and space become '_', a run of dots
// becomes '_' and a leading dot '_', so the result is always one plain, visible path component.
import { assertSafeFileName } from '../files/naming.ts';
import type { Sfid } from '../protocol/command-types.ts';
import { datasetNameFor } from '../station/dataset-name.ts';

/** SFIDDSN for a dropped file's name (see above). */
export function datasetNameForDrop(fileName: string): string {
  return datasetNameFor(fileName);
}

/** SFIDDESC for a dropped file: its original name, cut to the field's 999 UTF-8 octets. */
export function descriptionForDrop(fileName: string): string {
  const bytes = Buffer.from(fileName, 'utf8');
  if (bytes.length <= 999) return fileName;
  let cut = 999;
  while (cut > 0 && (bytes[cut]! & 0xc0) === 0x80) cut--; // never split a UTF-8 sequence
  return bytes.subarray(0, cut).toString('utf8');
}

/** The inbox name of a received file: '<DSN>_<date>_<HHMMSS>_<counter>'. Throws FileRefusedError (SFNA 01) if unusable. */
export function inboxFileName(sfid: Pick<Sfid, 'datasetName' | 'date' | 'time'>): string {
  const dsn = sfid.datasetName
    .replace(/[/ ]/g, '_')
    .replace(/\.{2,}/g, '_')
    .replace(/^\./, '_');
  const name = `${dsn}_${sfid.date}_${sfid.time.slice(0, 6)}_${sfid.time.slice(6, 10).padEnd(4, '0')}`;
  assertSafeFileName(name);
  return name;
}
