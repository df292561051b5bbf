/**
 * Who is calling: verifies the bearer token of an HTTP request or a graphql-ws connection.
 * HS256 tokens are checked against JWT_SECRET; RS256/ES256 tokens against the identity provider's
 * keys at JWT_JWKS_URL, when configured. `sub` names the user; `exp` is required.
 */
import { createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { LRUCache } from 'lru-cache';
import type { Config } from '../config.js';
import { unstorableTextReason } from '../domain/text.js';

export interface VerifiedToken {
  subject: string;
  email: string | null;
  /** The token's `exp`: a graphql-ws socket opened with it is closed (4403) at this moment. */
  expiresAt: Date;
  /** The OpenID Connect `zoneinfo` claim, unchecked (the user's zone on first sight, if valid). */
  zoneinfo: string | null;
}

export class AuthenticationError extends Error {}

export type TokenVerifier = (token: string) => Promise<VerifiedToken>;

const ASYMMETRIC_ALGORITHMS = ['RS256', 'ES256'];
const MAX_SUBJECT_LENGTH = 255;
const MAX_TOKEN_LENGTH = 8192;

/**
 * Verified tokens kept for reuse: at most this many, and at most this many characters of tokens in
 * all (a token may be up to MAX_TOKEN_LENGTH long), least recently used first out.
 */
const VERIFIED_CACHE_MAX_ENTRIES = 10_000;
const VERIFIED_CACHE_MAX_CHARACTERS = 16 * 1024 * 1024;

/**
 * Verifies tokens, remembering each one that passed until its `exp` (a bounded LRU keyed by the
 * token itself): a client repeating its token costs one verification, not one per request (the
 * signature check is most of the cost, see BENCHMARKS.md). Only successes are kept; a cached token
 * is refused from the moment its `exp` passes, as a fresh verification would refuse it. A token
 * signed by a key the identity provider has since withdrawn from its JWKS stays accepted until its
 * `exp` once seen, as with any stateless JWT verified before the withdrawal.
 *
 * `now` gives the time `exp` and `nbf` are judged at (Unix ms): the database's clock in a server
 * (db/clock.ts), so a host whose clock is off accepts and refuses the same tokens. Default: the host's.
 */
export function createTokenVerifier(jwt: Config['jwt'], now: () => number | Promise<number> = Date.now): TokenVerifier {
  const verify = createUncachedTokenVerifier(jwt, now);
  const verified = new LRUCache<string, VerifiedToken>({
    max: VERIFIED_CACHE_MAX_ENTRIES,
    maxSize: VERIFIED_CACHE_MAX_CHARACTERS,
    sizeCalculation: (_value, token) => token.length,
  });
  return async (token) => {
    const cached = verified.get(token);
    if (cached !== undefined) {
      if (cached.expiresAt.getTime() > (await now())) return cached;
      verified.delete(token);
      throw new AuthenticationError('token has expired');
    }
    const result = await verify(token);
    const lifetimeMs = result.expiresAt.getTime() - (await now());
    if (lifetimeMs > 0) verified.set(token, result, { ttl: lifetimeMs });
    return result;
  };
}

/** Verifies every token afresh (signature, algorithm, claims); see createTokenVerifier. */
function createUncachedTokenVerifier(jwt: Config['jwt'], now: () => number | Promise<number>): TokenVerifier {
  const secret = jwt.secret === undefined ? undefined : new TextEncoder().encode(jwt.secret);
  const jwks = jwt.jwksUrl === undefined ? undefined : createRemoteJWKSet(new URL(jwt.jwksUrl));
  const baseClaims = { issuer: jwt.issuer, audience: jwt.audience, requiredClaims: ['sub', 'exp'] };

  return async (token) => {
    if (token.length > MAX_TOKEN_LENGTH) throw new AuthenticationError('token is too long');
    const claims = { ...baseClaims, currentDate: new Date(await now()) };
    let payload: JWTPayload;
    try {
      const { alg } = decodeProtectedHeader(token);
      if (alg === 'HS256' && secret !== undefined) {
        ({ payload } = await jwtVerify(token, secret, { ...claims, algorithms: ['HS256'] }));
      } else if (alg !== undefined && ASYMMETRIC_ALGORITHMS.includes(alg) && jwks !== undefined) {
        ({ payload } = await jwtVerify(token, jwks, { ...claims, algorithms: ASYMMETRIC_ALGORITHMS }));
      } else {
        throw new AuthenticationError(`tokens signed with ${alg ?? 'no algorithm'} are not accepted`);
      }
    } catch (error) {
      if (error instanceof AuthenticationError) throw error;
      if (error instanceof errors.JWTExpired) throw new AuthenticationError('token has expired');
      if (error instanceof errors.JWTClaimValidationFailed) throw new AuthenticationError(`token claim "${error.claim}" is invalid`);
      throw new AuthenticationError('token is invalid');
    }
    const subject = payload.sub;
    // A subject of only whitespace names nobody (and would print as nothing in logs).
    if (typeof subject !== 'string' || subject.trim().length === 0 || subject.length > MAX_SUBJECT_LENGTH) {
      throw new AuthenticationError('token subject is invalid');
    }
    const email = typeof payload.email === 'string' && payload.email.length <= 320 ? payload.email : null;
    // Both are written to the users table: text PostgreSQL cannot store makes the token invalid,
    // answered as 401 naming the claim, before any SQL.
    for (const [claim, value] of [['sub', subject], ['email', email]] as const) {
      const reason = value === null ? null : unstorableTextReason(value);
      if (reason !== null) throw new AuthenticationError(`token claim "${claim}" ${reason}`);
    }
    const zoneinfo = typeof payload.zoneinfo === 'string' ? payload.zoneinfo : null;
    // `exp` is required by jwtVerify above, so it is a number here; one past what a Date holds
    // (±8.64e15 ms, about year 275760) could time nothing, so the token is refused.
    const expiresAt = new Date((payload.exp ?? 0) * 1000);
    if (Number.isNaN(expiresAt.getTime())) throw new AuthenticationError('token claim "exp" is invalid');
    return { subject, email, expiresAt, zoneinfo };
  };
}

/** Extracts the token from an `Authorization: Bearer <token>` value; undefined when there is none. */
export function bearerToken(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match?.[1]) throw new AuthenticationError('Authorization header must be "Bearer <token>"');
  return match[1];
}

/** Signs an HS256 token, for development (`npm run token`) and tests. */
export async function signToken(
  secret: string,
  subject: string,
  options: { expiresIn?: string | number; email?: string; zoneinfo?: string; issuer?: string; audience?: string } = {},
): Promise<string> {
  let jwt = new SignJWT({ ...(options.email ? { email: options.email } : {}), ...(options.zoneinfo ? { zoneinfo: options.zoneinfo } : {}) })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(subject)
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '7d');
  if (options.issuer) jwt = jwt.setIssuer(options.issuer);
  if (options.audience) jwt = jwt.setAudience(options.audience);
  return jwt.sign(new TextEncoder().encode(secret));
}
