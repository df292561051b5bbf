/**
 * Standard Webhooks (https://www.standardwebhooks.com) symmetric signatures, so any receiver can
 * check our webhooks with an off-the-shelf library. The scheme: HMAC-SHA256 over
 * `${webhook-id}.${webhook-timestamp}.${body}`, keyed with the bytes of the secret (base64 after
 * the `whsec_` prefix), sent as `v1,<base64>` in `webhook-signature`; that header may hold several
 * space-separated signatures so secrets can be rotated without downtime.
 *
 * The signing is the spec's own reference library (`standardwebhooks`). What stays here: strict
 * secret checking, and a verifier for receivers and tests whose clock and tolerance can be given
 * (the library's `verify` always reads the wall clock) and which returns a reason instead of throwing.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

export const SECRET_PREFIX = 'whsec_';
export const SIGNATURE_VERSION = 'v1';
/** The spec's suggested replay window. */
export const DEFAULT_TOLERANCE_SECONDS = 5 * 60;

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** A fresh endpoint secret: 32 random bytes, inside the spec's 24 to 64 byte range. */
export function generateWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

/**
 * The HMAC key behind a secret. Like the reference libraries, a bare base64 secret (without the
 * prefix) is accepted too; anything that is not strict base64 is refused, because Buffer's lenient
 * decoding would otherwise silently sign with a different key than the receiver uses.
 */
export function decodeWebhookSecret(secret: string): Buffer {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  if (!BASE64.test(encoded) || encoded.length % 4 !== 0) {
    throw new Error('webhook secret is not whsec_ followed by base64');
  }
  const key = Buffer.from(encoded, 'base64');
  if (key.length === 0) throw new Error('webhook secret is empty');
  return key;
}

export interface SignInput {
  /** The `webhook-id` header: stable across retries of one event. */
  id: string;
  /** The `webhook-timestamp` header: Unix seconds of this attempt. */
  timestamp: number;
  /** The exact bytes sent as the request body. */
  body: string | Buffer;
  secret: string;
}

/** The `webhook-signature` header value for one secret: `v1,<base64 HMAC-SHA256>`. */
export function signWebhook({ id, timestamp, body, secret }: SignInput): string {
  if (!Number.isSafeInteger(timestamp)) throw new Error('webhook timestamp must be whole seconds');
  decodeWebhookSecret(secret);
  return new Webhook(secret).sign(id, new Date(timestamp * 1000), body);
}

export type HeaderBag = Record<string, string | string[] | undefined>;

export interface VerifyInput {
  /** Request headers; names are matched case-insensitively, as HTTP requires. */
  headers: HeaderBag;
  body: string | Buffer;
  secret: string;
  toleranceSeconds?: number;
  /** Current time in Unix seconds; defaults to the clock. */
  now?: number;
}

export type VerifyResult = { ok: true; id: string; timestamp: number } | { ok: false; reason: string };

function header(headers: HeaderBag, name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== name) continue;
    return Array.isArray(value) ? value.join(' ') : value;
  }
  return undefined;
}

/**
 * Checks a received webhook, for receivers and tests. Returns a reason rather than throwing, so a
 * receiver can log why it refused without catching.
 */
export function verifyWebhook({
  headers,
  body,
  secret,
  toleranceSeconds = DEFAULT_TOLERANCE_SECONDS,
  now = Math.floor(Date.now() / 1000),
}: VerifyInput): VerifyResult {
  const id = header(headers, 'webhook-id');
  const timestampText = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !timestampText || !signatures) return { ok: false, reason: 'missing webhook headers' };
  if (!/^\d{1,15}$/.test(timestampText)) return { ok: false, reason: 'invalid webhook-timestamp' };
  const timestamp = Number(timestampText);
  // Both directions: an old timestamp is a replay, a future one a replay prepared in advance.
  if (Math.abs(now - timestamp) > toleranceSeconds) return { ok: false, reason: 'timestamp outside tolerance' };

  let expected: Buffer;
  try {
    expected = Buffer.from(signWebhook({ id, timestamp, body, secret }).slice(SIGNATURE_VERSION.length + 1));
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  }
  for (const entry of signatures.split(' ')) {
    const comma = entry.indexOf(',');
    if (comma < 0 || entry.slice(0, comma) !== SIGNATURE_VERSION) continue;
    // Compared as base64 text, not decoded: Buffer's lenient decoder would accept variants.
    const candidate = Buffer.from(entry.slice(comma + 1));
    // timingSafeEqual needs equal lengths; the length of a MAC is no secret.
    if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) {
      return { ok: true, id, timestamp };
    }
  }
  return { ok: false, reason: 'no matching signature' };
}
