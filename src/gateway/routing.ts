// Routing by destination code (RFC 5024 §4.3.4, §4.7.3, §5.4). A file's SFIDDEST is the final
// recipient; the partner it is sent to is the adjacent station. Rules, in order:
// 1. a destination that is one of our partners' Odette IDs goes to that partner (directly adjacent);
// 2. otherwise the route whose destination it is names the adjacent partner (a clearing centre);
// 3. otherwise there is no route: the file stays where it is and the operator is told.
// A file received for another destination is forwarded only along a route marked `forward`, and never
// back to the partner it came from (no loops through us). Originators reached through a route are
// known originators: a file from them arrives through the route's partner.
import type { PartnerConfig } from '../store/station-config.ts';
import type { RouteConfig } from './share-config.ts';

export interface RoutingSource {
  stationId: string;
  partners(): readonly PartnerConfig[];
  routes(): readonly RouteConfig[];
}

export type RouteDecision =
  | { ok: true; partner: PartnerConfig; via: 'partner' | 'route' }
  | { ok: false; reason: string };

export class Router {
  readonly #source: RoutingSource;

  constructor(source: RoutingSource) {
    this.#source = source;
  }

  /** The adjacent partner a file for `destination` is sent to. */
  partnerFor(destination: string): RouteDecision {
    const partners = this.#source.partners();
    const direct = partners.find((p) => p.odetteId === destination);
    if (direct) return { ok: true, partner: direct, via: 'partner' };
    const route = this.#source.routes().find((r) => r.destination === destination);
    if (!route) return { ok: false, reason: `no partner and no route for destination ${destination}` };
    const partner = partners.find((p) => p.name === route.partner);
    if (!partner) return { ok: false, reason: `the route for ${destination} names partner "${route.partner}", which is not configured` };
    return { ok: true, partner, via: 'route' };
  }

  /**
   * The partner a file received from `from` for `destination` (not us) is forwarded to, or undefined
   * when we do not forward it (it is then refused with SFNA 02).
   */
  forwardTo(destination: string, from: string): PartnerConfig | undefined {
    if (destination === this.#source.stationId) return undefined;
    const route = this.#source.routes().find((r) => r.destination === destination && r.forward);
    if (!route || route.partner === from) return undefined;
    return this.#source.partners().find((p) => p.name === route.partner);
  }

  /** Odette IDs accepted as SFIDORIG: our partners' and every route's destination. */
  knownOriginators(): Set<string> {
    const ids = new Set(this.#source.partners().map((p) => p.odetteId));
    for (const r of this.#source.routes()) ids.add(r.destination);
    return ids;
  }
}
