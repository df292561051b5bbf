import type { Database } from '../db/client.js';
import type { DomainPolicy } from '../domain/policy.js';
import type { Viewer } from '../domain/types.js';
import type { EventHub } from '../events/hub.js';
import type { AddressPolicy } from '../notifiers/address-guard.js';

/** What every resolver gets: the database, live events and, when the token was valid, who is asking. */
export interface Context {
  db: Database;
  events: EventHub;
  /** Which webhook destinations users may register (private networks are refused by default). */
  webhookPolicy: AddressPolicy;
  viewer: Viewer | null;
  /** Quotas and lock-wait bounds the domain applies to this deployment's changes. */
  policy: DomainPolicy;
}

/** The context once the `signedIn` scope passed: resolvers never check for a missing viewer. */
export interface SignedInContext extends Context {
  viewer: Viewer;
}
