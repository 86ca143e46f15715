// Where things are on the share: its root, each partner's inbox folder, the outbox folders (configured
// ones and the per-partner defaults), and the containment check every path taken from the share passes
// (a folder or file that resolves outside the share through a symlink is never used).
// Layout under shareRoot (defaults):
//   <partner>/out/                 drop folder (outboxPerPartner)
//   <partner>/out/.oftp-pickup/    files claimed by the gateway, one folder per file (outbox-claim.ts)
//   <partner>/out/.oftp-rejected/  files refused, each with NAME.reason.txt
//   <partner>/in/                  delivered files (inbox-layout.ts), partials in in/.oftp-partial/
import { realpath } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { PartnerConfig } from '../store/station-config.ts';
import { GATEWAY_DEFAULTS, type GatewayConfig, normalizeFolder, type OutboxConfig, type ReceiptPolicy } from './share-config.ts';

export interface ResolvedOutbox extends OutboxConfig {
  /** Absolute path of the drop folder. */
  dir: string;
  /** Made by outboxPerPartner rather than configured. */
  implicit: boolean;
}

export interface ShareSource {
  dataDir: string;
  gateway(): GatewayConfig;
  partners(): readonly PartnerConfig[];
}

export class ShareLayout {
  readonly #source: ShareSource;

  constructor(source: ShareSource) {
    this.#source = source;
  }

  /** Absolute share root. */
  get root(): string {
    return resolve(this.#source.dataDir, this.#source.gateway().shareRoot);
  }

  /** The partner's inbox folder (configured, or `<root>/<partner>/in`). */
  inboxDir(partner: string): string {
    const configured = this.#source.gateway().inboxes.find((b) => b.partner === partner)?.folder;
    return join(this.root, normalizeFolder(configured ?? GATEWAY_DEFAULTS.inboxFolder.replace('{partner}', partner)));
  }

  receiptPolicy(partner: string): ReceiptPolicy {
    return this.#source.gateway().inboxes.find((b) => b.partner === partner)?.receipt ?? GATEWAY_DEFAULTS.receipt;
  }

  /** Every inbox folder: one per partner (configured or default). */
  inboxes(): { partner: string; dir: string }[] {
    return this.#source.partners().map((p) => ({ partner: p.name, dir: this.inboxDir(p.name) }));
  }

  /**
   * Configured outboxes, then `<partner>/out` for each partner without one when outboxPerPartner is on
   * (skipped where it would overlap a configured folder).
   */
  outboxes(): ResolvedOutbox[] {
    const gateway = this.#source.gateway();
    const root = this.root;
    const out: ResolvedOutbox[] = gateway.outboxes.map((o) => ({ ...o, dir: join(root, normalizeFolder(o.folder)), implicit: false }));
    if (!gateway.outboxPerPartner) return out;
    const taken = [...out.map((o) => o.dir), ...this.inboxes().map((b) => b.dir)];
    for (const p of this.#source.partners()) {
      if (gateway.outboxes.some((o) => o.partner === p.name)) continue;
      const folder = GATEWAY_DEFAULTS.outboxFolder.replace('{partner}', p.name);
      const dir = join(root, folder);
      if (taken.some((t) => t === dir || t.startsWith(dir + sep) || dir.startsWith(t + sep))) continue;
      out.push({
        folder,
        partner: p.name,
        format: GATEWAY_DEFAULTS.format,
        signedReceipt: GATEWAY_DEFAULTS.signedReceipt,
        pickup: GATEWAY_DEFAULTS.pickup,
        stableMs: GATEWAY_DEFAULTS.stableMs,
        markerSuffixes: [...GATEWAY_DEFAULTS.markerSuffixes],
        dir,
        implicit: true,
      });
    }
    return out;
  }
}

/** Whether `child` is `root` or below it, lexically. */
export function isWithin(root: string, child: string): boolean {
  const rel = relative(root, child);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * Whether the existing `path` resolves (symlinks followed) inside the share root (resolved too).
 * False when either does not exist.
 */
export async function resolvesInside(root: string, path: string): Promise<boolean> {
  try {
    const [r, p] = await Promise.all([realpath(root), realpath(path)]);
    return isWithin(r, p);
  } catch {
    return false;
  }
}
