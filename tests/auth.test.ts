/** Tokens from an identity provider: RS256/ES256 verified against its JWKS, served by a real HTTP server here. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthenticationError, createTokenVerifier, signToken } from '../src/auth/tokens.js';
import { loadConfig } from '../src/config.js';

let server: http.Server;
let jwksUrl: string;
let rsaKey: CryptoKey;
let ecKey: CryptoKey;
const otherRsa = await generateKeyPair('RS256');

beforeAll(async () => {
  const rsa = await generateKeyPair('RS256');
  const ec = await generateKeyPair('ES256');
  rsaKey = rsa.privateKey;
  ecKey = ec.privateKey;
  const keys = [
    { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
    { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' },
  ];
  server = http.createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function providerToken(key: CryptoKey, alg: 'RS256' | 'ES256', kid: string, claims: { sub?: string; iss?: string; aud?: string } = {}) {
  let jwt = new SignJWT({}).setProtectedHeader({ alg, kid }).setIssuedAt().setExpirationTime('5m');
  if (claims.sub !== undefined) jwt = jwt.setSubject(claims.sub);
  if (claims.iss) jwt = jwt.setIssuer(claims.iss);
  if (claims.aud) jwt = jwt.setAudience(claims.aud);
  return jwt.sign(key);
}

describe('JWKS verification', () => {
  const settings = () => ({ secret: undefined, jwksUrl, issuer: 'https://id.example', audience: 'tickler' });

  it('accepts RS256 and ES256 tokens signed by the provider, naming the user by `sub`', async () => {
    const verify = createTokenVerifier(settings());
    const claims = { sub: 'provider|42', iss: 'https://id.example', aud: 'tickler' };
    const verified = await verify(await providerToken(rsaKey, 'RS256', 'rsa-1', claims));
    expect(verified).toEqual({ subject: 'provider|42', email: null, expiresAt: expect.any(Date), zoneinfo: null });
    // `exp` is 5 minutes after issue, in whole seconds.
    expect(Math.abs(verified.expiresAt.getTime() - (Date.now() + 300_000))).toBeLessThan(60_000);
    expect(await verify(await providerToken(ecKey, 'ES256', 'ec-1', claims))).toMatchObject({ subject: 'provider|42' });
  });

  it.each([
    ['a key the provider does not publish', async () => providerToken(otherRsa.privateKey, 'RS256', 'rsa-1', { sub: 'x', iss: 'https://id.example', aud: 'tickler' })],
    ['another issuer', async () => providerToken(rsaKey, 'RS256', 'rsa-1', { sub: 'x', iss: 'https://evil.example', aud: 'tickler' })],
    ['another audience', async () => providerToken(rsaKey, 'RS256', 'rsa-1', { sub: 'x', iss: 'https://id.example', aud: 'someone-else' })],
    ['no subject', async () => providerToken(rsaKey, 'RS256', 'rsa-1', { iss: 'https://id.example', aud: 'tickler' })],
  ])('refuses a token with %s', async (_case, token) => {
    const verify = createTokenVerifier(settings());
    await expect(verify(await token())).rejects.toBeInstanceOf(AuthenticationError);
  });

  it('refuses HS256 tokens when only JWKS is configured (no shared secret to check them with)', async () => {
    const verify = createTokenVerifier(settings());
    const token = await signToken('a-secret-that-is-long-enough-to-be-accepted!!', 'x', { issuer: 'https://id.example', audience: 'tickler' });
    await expect(verify(token)).rejects.toThrow(/HS256 are not accepted/);
  });
});

describe('JWT_JWKS_URL, JWT_ISSUER and JWT_AUDIENCE from the environment (README, Configuration)', () => {
  // The documented variable names, through loadConfig, as a production server reads them: no JWT_SECRET.
  const fromEnvironment = () =>
    createTokenVerifier(loadConfig({ NODE_ENV: 'production', JWT_JWKS_URL: jwksUrl, JWT_ISSUER: 'https://id.example', JWT_AUDIENCE: 'tickler' }).jwt);

  it("accepts the provider's token with that issuer and audience", async () => {
    const token = await providerToken(rsaKey, 'RS256', 'rsa-1', { sub: 'env|1', iss: 'https://id.example', aud: 'tickler' });
    expect(await fromEnvironment()(token)).toMatchObject({ subject: 'env|1' });
  });

  it.each([
    ['another issuer', { sub: 'env|2', iss: 'https://evil.example', aud: 'tickler' }, /claim "iss"/],
    ['no issuer', { sub: 'env|2', aud: 'tickler' }, /claim "iss"/],
    ['another audience', { sub: 'env|2', iss: 'https://id.example', aud: 'someone-else' }, /claim "aud"/],
    ['no audience', { sub: 'env|2', iss: 'https://id.example' }, /claim "aud"/],
  ])('refuses a token with %s', async (_case, claims, reason) => {
    const token = await providerToken(rsaKey, 'RS256', 'rsa-1', claims);
    await expect(fromEnvironment()(token)).rejects.toThrow(reason);
  });

  it('refuses a key the JWKS at JWT_JWKS_URL does not publish, and accepts nothing without JWT_JWKS_URL', async () => {
    const foreign = await providerToken(otherRsa.privateKey, 'RS256', 'rsa-1', { sub: 'env|3', iss: 'https://id.example', aud: 'tickler' });
    await expect(fromEnvironment()(foreign)).rejects.toBeInstanceOf(AuthenticationError);
    const good = await providerToken(rsaKey, 'RS256', 'rsa-1', { sub: 'env|3', iss: 'https://id.example', aud: 'tickler' });
    const withoutJwks = createTokenVerifier(loadConfig({ JWT_ISSUER: 'https://id.example', JWT_AUDIENCE: 'tickler' }).jwt);
    await expect(withoutJwks(good)).rejects.toThrow(/RS256 are not accepted/);
  });
});
