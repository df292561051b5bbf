/**
 * Verified tokens are cached for their lifetime (issue 10), and the cache never accepts what a
 * fresh verification would refuse:
 *
 * 1. A token that passed keeps passing, with the same subject, and other tokens never answer with
 *    its result (each token is its own key).
 * 2. Once its `exp` has passed, a cached token is refused as expired (the clock moved by fake
 *    timers, not waited for), exactly as an uncached verifier refuses it; one second before, it passes.
 * 3. Failures are not cached: a bad token keeps failing, and a token is not let in because a
 *    different one of the same subject was verified.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AuthenticationError, createTokenVerifier, signToken } from '../src/auth/tokens.js';

const SECRET = 'a-test-secret-that-is-long-enough-for-hs256-0123456789';
const config = { secret: SECRET, jwksUrl: undefined, issuer: undefined, audience: undefined };

afterEach(() => {
  vi.useRealTimers();
});

describe('the verified-token cache', () => {
  it('answers a repeated token with its own subject, and each token with its own', async () => {
    const verify = createTokenVerifier(config);
    const alice = await signToken(SECRET, 'alice', { expiresIn: '1h' });
    const bob = await signToken(SECRET, 'bob', { expiresIn: '1h' });
    expect((await verify(alice)).subject).toBe('alice');
    expect((await verify(bob)).subject).toBe('bob');
    expect((await verify(alice)).subject).toBe('alice');
    expect((await verify(bob)).subject).toBe('bob');
  });

  it('refuses a cached token once its exp has passed, and accepts it one second before', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = Date.now();
    const verify = createTokenVerifier(config);
    const token = await signToken(SECRET, 'carol', { expiresIn: '60s' });
    const first = await verify(token);
    const exp = first.expiresAt.getTime();
    expect(exp - start).toBeGreaterThan(58_000);
    expect(exp - start).toBeLessThanOrEqual(60_000);

    vi.setSystemTime(exp - 1000);
    expect((await verify(token)).subject).toBe('carol');

    vi.setSystemTime(exp + 1000);
    await expect(verify(token)).rejects.toThrow(new AuthenticationError('token has expired'));
    // What a verifier that never saw the token says at that time: the same.
    await expect(createTokenVerifier(config)(token)).rejects.toThrow(new AuthenticationError('token has expired'));
  });

  it('does not cache failures, nor let a token in on another token of the same subject', async () => {
    const verify = createTokenVerifier(config);
    const good = await signToken(SECRET, 'dave', { expiresIn: '1h' });
    const forged = await signToken('another-secret-that-is-long-enough-for-hs256-987654', 'dave', { expiresIn: '1h' });
    expect((await verify(good)).subject).toBe('dave');
    await expect(verify(forged)).rejects.toThrow(new AuthenticationError('token is invalid'));
    await expect(verify(forged)).rejects.toThrow(new AuthenticationError('token is invalid'));
    // The good token, with its signature's FIRST character changed. (Not the last: 32 bytes take 43
    // base64url characters, whose last 2 bits are padding a decoder ignores, so 'A' -> 'B' there can
    // leave the signature as it was and the token valid, about one run in four.)
    const [header, payload, signature = ''] = good.split('.');
    const tampered = `${header}.${payload}.${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`;
    await expect(verify(tampered)).rejects.toThrow(AuthenticationError);
    expect((await verify(good)).subject).toBe('dave');
  });
});
