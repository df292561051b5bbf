import type { Database } from '../db/client.js';
import { zoneFromClaim } from './time-zones.js';
import type { Viewer } from './types.js';

/**
 * Subject -> user id, for users seen recently: most requests then need no query to learn who
 * is calling. Users are never deleted or re-keyed, so an entry cannot go stale.
 */
const knownUsers = new Map<string, string>();
const KNOWN_USERS_MAX = 10_000;

function remember(subject: string, userId: string): void {
  if (knownUsers.size >= KNOWN_USERS_MAX) {
    const oldest = knownUsers.keys().next().value;
    if (oldest !== undefined) knownUsers.delete(oldest);
  }
  knownUsers.set(subject, userId);
}

/**
 * The user behind a verified token's `sub`, created on first sight (safe when first requests race)
 * with the token's `email` and, when it names an IANA zone, its `zoneinfo` (else UTC).
 */
export async function viewerForSubject(db: Database, subject: string, email: string | null, zoneinfo: string | null = null): Promise<Viewer> {
  const cached = knownUsers.get(subject);
  if (cached !== undefined) return { userId: cached, subject };
  const rows = await db.$queryRaw<Array<{ id: string }>>`
    INSERT INTO users (subject, email, time_zone) VALUES (${subject}, ${email}, ${zoneFromClaim(zoneinfo)})
    ON CONFLICT (subject) DO UPDATE SET subject = EXCLUDED.subject
    RETURNING id`;
  const userId = rows[0]?.id;
  if (userId === undefined) throw new Error('user upsert returned no row');
  remember(subject, userId);
  return { userId, subject };
}
