// When a file dropped into an outbox is complete and may be taken: the three pickup rules, as pure
// functions of a folder listing and the time (no I/O, so they run under a virtual clock in tests).
// - 'stable': a file is taken once its signature (size, mtime, ctime, inode; its sidecar's too) has
//   been seen unchanged for `stableMs`. Size alone is not enough (Windows clients set the final size
//   before writing the data), nor is mtime (an SMB copy sets the source's): every write moves ctime,
//   which no client can set.
// - 'rename': the writer writes under a temporary name (dot-file or '*.tmp') and renames when done;
//   every other name is complete as soon as it is seen.
// - 'marker': FILE is complete once FILE<suffix> exists (default '.ready' or '.done'); the marker is
//   removed after FILE is claimed, and a marker alone (its file not there yet) waits.
// Never taken under any rule: hidden names ('.x', also our .oftp-pickup and .oftp-rejected folders),
// '*.tmp' and '~$*' (temporary and lock files of common writers), sidecars ('*.oftp.json', read with
// their file), anything not a regular file (folders are not descended into).
import { isSidecarName, sidecarTarget } from './sidecar.ts';
import type { PickupRule } from './share-config.ts';

export interface RuleOptions {
  pickup: PickupRule;
  stableMs: number;
  markerSuffixes: readonly string[];
}

/** A temporary or hidden name no rule takes. */
export function isTemporaryName(name: string): boolean {
  return name.startsWith('.') || name.startsWith('~$') || name.toLowerCase().endsWith('.tmp');
}

export interface FolderListing {
  /** Names that may be sent, once their rule says so. */
  candidates: string[];
  /** data file name → its sidecar's name. */
  sidecars: Map<string, string>;
  /** data file name → its marker's name ('marker' rule). */
  markers: Map<string, string>;
}

/** Sorts the names of one folder (regular files only) into candidates, sidecars and markers. */
export function classify(names: readonly string[], options: RuleOptions): FolderListing {
  const present = new Set(names);
  const sidecars = new Map<string, string>();
  const markers = new Map<string, string>();
  const markerNames = new Set<string>();
  for (const name of names) {
    if (isTemporaryName(name)) continue;
    if (isSidecarName(name)) {
      sidecars.set(sidecarTarget(name), name);
      continue;
    }
    if (options.pickup === 'marker') {
      const suffix = options.markerSuffixes.find((s) => name.length > s.length && name.endsWith(s));
      if (suffix) {
        markerNames.add(name);
        const target = name.slice(0, -suffix.length);
        if (present.has(target) && !markers.has(target)) markers.set(target, name);
      }
    }
  }
  const candidates: string[] = [];
  for (const name of names) {
    if (isTemporaryName(name) || isSidecarName(name) || markerNames.has(name)) continue;
    if (options.pickup === 'marker' && !markers.has(name)) continue;
    candidates.push(name);
  }
  return { candidates: candidates.sort(), sidecars, markers };
}

/** The stat fields that change while a file is written. */
export interface FileSignature {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
}

export const signatureText = (s: FileSignature): string => `${s.size}:${s.mtimeMs}:${s.ctimeMs}:${s.ino}`;

/**
 * The 'stable' rule's memory: for each name, its last signature and since when it has not changed.
 * Feed every scan; names not in a scan are forgotten (gone, or taken).
 */
export class StabilityTracker {
  readonly #seen = new Map<string, { signature: string; since: number }>();

  /**
   * `files`: name → signature text (the file's, with its sidecar's appended). Returns the names stable
   * for `stableMs` at `now`, and when the next one will be if nothing changes.
   */
  observe(files: ReadonlyMap<string, string>, now: number, stableMs: number): { ready: string[]; nextAt: number | undefined } {
    for (const name of [...this.#seen.keys()]) if (!files.has(name)) this.#seen.delete(name);
    const ready: string[] = [];
    let nextAt: number | undefined;
    for (const [name, signature] of files) {
      const seen = this.#seen.get(name);
      if (!seen || seen.signature !== signature) {
        this.#seen.set(name, { signature, since: now });
        if (stableMs === 0) ready.push(name);
        else nextAt = Math.min(nextAt ?? Infinity, now + stableMs);
        continue;
      }
      if (now - seen.since >= stableMs) ready.push(name);
      else nextAt = Math.min(nextAt ?? Infinity, seen.since + stableMs);
    }
    return { ready: ready.sort(), nextAt };
  }

  forget(name: string): void {
    this.#seen.delete(name);
  }

  get size(): number {
    return this.#seen.size;
  }
}

/**
 * One scan's decision for a folder: which candidates are ready now under the folder's rule, and when
 * to look again. `signatures` holds the candidates' (and sidecars') signature texts.
 */
export function readyToTake(
  listing: FolderListing,
  signatures: ReadonlyMap<string, string>,
  tracker: StabilityTracker,
  now: number,
  options: RuleOptions,
): { ready: string[]; nextAt: number | undefined } {
  if (options.pickup !== 'stable') return { ready: [...listing.candidates], nextAt: undefined };
  const files = new Map<string, string>();
  for (const name of listing.candidates) {
    const own = signatures.get(name);
    if (own === undefined) continue;
    const sidecar = listing.sidecars.get(name);
    files.set(name, sidecar ? `${own}|${signatures.get(sidecar) ?? 'gone'}` : own);
  }
  return tracker.observe(files, now, options.stableMs);
}
