/**
 * The HTTP routes of the dashboard: the page at `/`, its two assets under /assets/, and, outside
 * production, POST /dev/token, which signs a development token for a chosen user so a developer can
 * sign in with one click. GraphQL itself stays at /graphql (Yoga).
 */
import type http from 'node:http';
import { signToken } from '../auth/tokens.js';
import { log } from '../logger.js';
import { buildDashboard, type DashboardBundle } from './bundle.js';
import { dashboardHtml, securityHeaders } from './page.js';

export interface DashboardOptions {
  /**
   * What POST /dev/token signs with (the HS256 secret, and the issuer and audience tokens must carry),
   * or undefined to turn the endpoint off: always so in production (see `devTokens` in src/config.ts).
   */
  devTokens: DevTokenSigning | undefined;
}

export interface DevTokenSigning {
  secret: string;
  issuer: string | undefined;
  audience: string | undefined;
}

/** Handles the request and returns true when it is one of the dashboard's; false leaves it to Yoga. */
export type DashboardRoutes = (request: http.IncomingMessage, response: http.ServerResponse) => boolean;

/** A development subject: what `npm run token` would accept, short enough to show. */
const DEV_SUBJECT = /^[A-Za-z0-9._@-]{1,100}$/;
/** The body of POST /dev/token is one small JSON object. */
const MAX_DEV_BODY_BYTES = 1024;

function sendJson(response: http.ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
}

function readSmallBody(request: http.IncomingMessage, limit: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => {
      body += chunk;
      if (body.length > limit) {
        request.removeAllListeners('data');
        request.resume();
        resolve(undefined);
      }
    });
    request.on('end', () => resolve(body));
    request.on('error', reject);
  });
}

async function mintDevToken(signing: DevTokenSigning, request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
  const body = await readSmallBody(request, MAX_DEV_BODY_BYTES);
  if (body === undefined) return sendJson(response, 413, { error: `the body is larger than ${MAX_DEV_BODY_BYTES} bytes` });
  let subject: unknown;
  try {
    subject = (JSON.parse(body) as { subject?: unknown }).subject;
  } catch {
    return sendJson(response, 400, { error: 'the body must be JSON: {"subject": "alice"}' });
  }
  if (typeof subject !== 'string' || !DEV_SUBJECT.test(subject)) {
    return sendJson(response, 400, { error: 'subject must be 1-100 letters, digits or . _ @ -' });
  }
  // Valid for 12 hours: long enough for a working day, short enough to be harmless if copied.
  sendJson(response, 200, { token: await signToken(signing.secret, subject, { expiresIn: '12h', issuer: signing.issuer, audience: signing.audience }) });
}

export function createDashboardRoutes(options: DashboardOptions): DashboardRoutes {
  const html = dashboardHtml({ devTokens: options.devTokens !== undefined });
  let bundle: Promise<DashboardBundle> | undefined;
  // Built on first use, not at start-up: the API, the benchmark and the tests that never open the page pay nothing.
  const assets = () => (bundle ??= buildDashboard());

  function sendAsset(response: http.ServerResponse, pick: (built: DashboardBundle) => string, contentType: string): void {
    assets().then(
      (built) => response.writeHead(200, securityHeaders(contentType)).end(pick(built)),
      (error: unknown) => {
        log.error('the dashboard bundle failed to build', { error });
        bundle = undefined;
        response.writeHead(500, { 'content-type': 'text/plain' }).end('the dashboard could not be built; see the server log');
      },
    );
  }

  return (request, response) => {
    const pathname = (request.url ?? '/').split('?')[0];
    const method = request.method ?? 'GET';
    if (pathname === '/' && (method === 'GET' || method === 'HEAD')) {
      void assets();
      response.writeHead(200, securityHeaders('text/html; charset=utf-8')).end(method === 'HEAD' ? undefined : html);
      return true;
    }
    if (pathname === '/assets/dashboard.js' && method === 'GET') {
      sendAsset(response, (built) => built.script, 'text/javascript; charset=utf-8');
      return true;
    }
    if (pathname === '/assets/dashboard.css' && method === 'GET') {
      sendAsset(response, (built) => built.style, 'text/css; charset=utf-8');
      return true;
    }
    if (pathname === '/dev/token') {
      const signing = options.devTokens;
      if (signing === undefined) return false; // Off: Yoga answers 404 like any unknown path.
      if (method !== 'POST') {
        response.writeHead(405, { allow: 'POST' }).end();
        return true;
      }
      mintDevToken(signing, request, response).catch((error: unknown) => {
        log.error('minting a development token failed', { error });
        if (!response.headersSent) sendJson(response, 500, { error: 'could not sign a token' });
      });
      return true;
    }
    return false;
  };
}
