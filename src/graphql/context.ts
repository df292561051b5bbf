import type { Database } from '../db/client.js';
import type { Viewer } from '../domain/types.js';

/** What every resolver gets: the database and, when the token was valid, who is asking. */
export interface Context {
  db: Database;
  viewer: Viewer | null;
}

/** The context once the `signedIn` scope passed: resolvers never check for a missing viewer. */
export interface SignedInContext extends Context {
  viewer: Viewer;
}
