/**
 * The external notifiers against real servers on this machine, no mocks:
 *
 * 1. Standard Webhooks signatures: the reference libraries' published test vector, an independent
 *    HMAC computation, and verification edge cases (rotation lists, tampering, stale timestamps).
 * 2. The address guard: private, loopback, link-local, IPv6 and IPv4-mapped addresses; URL rules;
 *    the connect-time DNS lookup.
 * 3. WebhookNotifier posting to a node:http server on 127.0.0.1: headers, signature, the outcome
 *    for each status class, refused connections, and a receiver that never answers.
 * 4. EmailNotifier sending to an smtp-server on 127.0.0.1: the mail received, and 550/451/closed
 *    port classification.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerAddress } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AddressRefusedError,
  checkWebhookUrl,
  classifyAddress,
  createGuardedLookup,
  isPrivateAddress,
  type AddressPolicy,
} from '../src/notifiers/address-guard.js';
import { EmailNotifier, emailContent, smtpOptionsFromUrl } from '../src/notifiers/email.js';
import type { DeliveryMessage, ReminderFiredPayload } from '../src/notifiers/notifier.js';
import { decodeWebhookSecret, generateWebhookSecret, signWebhook, verifyWebhook } from '../src/notifiers/standard-webhooks.js';
import { WebhookNotifier, webhookBody } from '../src/notifiers/webhook.js';
import { reminderFiredPayload } from '../src/events/payload.js';

const STRICT: AddressPolicy = { allowPrivate: false, allowLoopback: false };
const LOOPBACK_ONLY: AddressPolicy = { allowPrivate: false, allowLoopback: true };

function payload(title = 'Submit the quarterly report'): ReminderFiredPayload {
  return {
    type: 'reminder.fired',
    eventId: '42',
    taskId: 'VGFzazox',
    reminderId: 'UmVtaW5kZXI6MQ==',
    taskTitle: title,
    deadline: '2030-01-02T10:00:00.000Z',
    triggerAt: '2030-01-02T09:00:00.000Z',
    firedAt: '2030-01-02T09:00:00.120Z',
  };
}

function message(overrides: Partial<DeliveryMessage> = {}): DeliveryMessage {
  return { deliveryId: randomUUID(), messageId: `msg_${randomUUID()}`, attempt: 1, payload: payload(), ...overrides };
}

/** A port nothing listens on: bound once by us, then released. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

describe('Standard Webhooks signatures', () => {
  it('matches the test vector of the standard-webhooks reference libraries', () => {
    // From standard-webhooks/standard-webhooks, libraries/javascript/src/webhook.test.ts and
    // libraries/go/webhook_test.go ("sign function works" / TestWebhookSign).
    const signature = signWebhook({
      id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      timestamp: 1614265330,
      body: '{"test": 2432232314}',
      secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    });
    expect(signature).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('agrees with an independent HMAC over id.timestamp.body keyed with the decoded secret', () => {
    const secret = generateWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+={0,2}$/);
    const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
    expect(key.length).toBeGreaterThanOrEqual(24);
    expect(key.length).toBeLessThanOrEqual(64);
    const body = webhookBody(payload('Ünïcödé ✓ "quoted"'));
    const expected = createHmac('sha256', key).update(`msg_1.1700000000.${body}`, 'utf8').digest('base64');
    expect(signWebhook({ id: 'msg_1', timestamp: 1700000000, body, secret })).toBe(`v1,${expected}`);
    expect(signWebhook({ id: 'msg_1', timestamp: 1700000000, body: Buffer.from(body), secret })).toBe(`v1,${expected}`);
  });

  it('verifies rotation lists and refuses tampering, other secrets, stale or future timestamps', () => {
    const secret = generateWebhookSecret();
    const body = '{"a":1}';
    const now = 1_800_000_000;
    const headers = (timestamp: number, signature = signWebhook({ id: 'msg_x', timestamp, body, secret })) => ({
      'Webhook-Id': 'msg_x',
      'Webhook-Timestamp': String(timestamp),
      'Webhook-Signature': signature,
    });
    expect(verifyWebhook({ headers: headers(now), body, secret, now })).toEqual({ ok: true, id: 'msg_x', timestamp: now });
    const rotated = `v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v1a,abc ${signWebhook({ id: 'msg_x', timestamp: now, body, secret })}`;
    expect(verifyWebhook({ headers: headers(now, rotated), body, secret, now }).ok).toBe(true);
    expect(verifyWebhook({ headers: headers(now), body: '{"a":2}', secret, now }).ok).toBe(false);
    expect(verifyWebhook({ headers: headers(now), body, secret: generateWebhookSecret(), now }).ok).toBe(false);
    expect(verifyWebhook({ headers: headers(now - 301), body, secret, now })).toEqual({ ok: false, reason: 'timestamp outside tolerance' });
    expect(verifyWebhook({ headers: headers(now + 301), body, secret, now }).ok).toBe(false);
    expect(verifyWebhook({ headers: headers(now - 299), body, secret, now }).ok).toBe(true);
    expect(verifyWebhook({ headers: { 'webhook-id': 'msg_x' }, body, secret, now }).ok).toBe(false);
    const truncated = signWebhook({ id: 'msg_x', timestamp: now, body, secret }).slice(0, 10);
    expect(verifyWebhook({ headers: headers(now, truncated), body, secret, now }).ok).toBe(false);
  });

  it('refuses secrets that are not base64', () => {
    expect(() => decodeWebhookSecret('whsec_not base64!')).toThrow(/base64/);
    expect(() => decodeWebhookSecret('whsec_')).toThrow();
    expect(decodeWebhookSecret('whsec_AAAA').length).toBe(3);
  });
});

describe('address guard', () => {
  it.each([
    '127.0.0.1', '127.255.255.254', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1',
    '169.254.169.254', '100.64.0.1', '100.127.255.255', '0.0.0.0', '0.1.2.3', '224.0.0.1',
    '255.255.255.255', '::1', '::', 'fe80::1', 'fe80::1%eth0', 'febf::1', 'fc00::1', 'fd12:3456::1',
    'ff02::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '::ffff:7f00:1', '::ffff:a9fe:a9fe', '[::1]',
    '64:ff9b::a00:1', '2002:c0a8:101::1', 'not-an-ip',
  ])('%s is private', (ip) => {
    expect(isPrivateAddress(ip)).toBe(true);
  });

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '172.15.255.255', '100.128.0.1', '11.0.0.1', '2606:4700:4700::1111', '2a00:1450::1', '::ffff:8.8.8.8'])(
    '%s is public',
    (ip) => {
      expect(isPrivateAddress(ip)).toBe(false);
    },
  );

  it('tells loopback apart from other private ranges', () => {
    expect(classifyAddress('127.0.0.1')).toBe('loopback');
    expect(classifyAddress('::ffff:127.0.0.1')).toBe('loopback');
    expect(classifyAddress('10.0.0.1')).toBe('private');
    expect(classifyAddress('fe80::1')).toBe('private');
  });

  it('checks submitted URLs', () => {
    expect(checkWebhookUrl('https://hooks.example.com/tickler?x=1', STRICT)).toBeNull();
    expect(checkWebhookUrl('http://8.8.8.8:8080/hook', STRICT)).toBeNull();
    expect(checkWebhookUrl('ftp://example.com/hook', STRICT)).toMatch(/http and https/);
    expect(checkWebhookUrl('file:///etc/passwd', STRICT)).toMatch(/http and https/);
    expect(checkWebhookUrl('https://user:pass@example.com/', STRICT)).toMatch(/credentials/);
    expect(checkWebhookUrl('https://user@example.com/', STRICT)).toMatch(/credentials/);
    expect(checkWebhookUrl('not a url', STRICT)).toMatch(/valid URL/);
    expect(checkWebhookUrl(`https://example.com/${'a'.repeat(2048)}`, STRICT)).toMatch(/longer/);
    for (const url of [
      'http://127.0.0.1/',
      'http://127.1/',
      'http://2130706433/',
      'http://0x7f000001/',
      'http://[::1]/',
      'http://[::ffff:127.0.0.1]/',
      'http://10.0.0.1/',
      'http://169.254.169.254/latest/meta-data/',
      'http://[fe80::1]/',
      'http://[fd00::1]/',
      'http://0.0.0.0/',
      'http://localhost:4000/',
      'http://api.localhost/',
    ]) {
      expect(checkWebhookUrl(url, STRICT), url).not.toBeNull();
    }
  });

  it('allows loopback only when the policy does, and nothing else private with it', () => {
    expect(checkWebhookUrl('http://127.0.0.1:8080/', LOOPBACK_ONLY)).toBeNull();
    expect(checkWebhookUrl('http://[::1]:8080/', LOOPBACK_ONLY)).toBeNull();
    expect(checkWebhookUrl('http://localhost:8080/', LOOPBACK_ONLY)).toBeNull();
    expect(checkWebhookUrl('http://10.0.0.1/', LOOPBACK_ONLY)).not.toBeNull();
    expect(checkWebhookUrl('http://192.168.0.10/', LOOPBACK_ONLY)).not.toBeNull();
    expect(checkWebhookUrl('http://10.0.0.1/', { allowPrivate: true, allowLoopback: false })).toBeNull();
    expect(checkWebhookUrl('http://127.0.0.1/', { allowPrivate: true, allowLoopback: false })).not.toBeNull();
  });

  it('refuses a name resolving to loopback at lookup time unless loopback is allowed', async () => {
    const lookup = (policy: AddressPolicy, all: boolean) =>
      new Promise<{ error: NodeJS.ErrnoException | null; address: unknown }>((resolve) => {
        createGuardedLookup(policy)('localhost', { all }, (error, address) => resolve({ error, address }));
      });
    for (const all of [false, true]) {
      const refused = await lookup(STRICT, all);
      expect(refused.error).toBeInstanceOf(AddressRefusedError);
      expect(refused.error?.message).toMatch(/localhost resolves to/);
      const allowed = await lookup(LOOPBACK_ONLY, all);
      expect(allowed.error).toBeNull();
      const addresses = Array.isArray(allowed.address) ? allowed.address.map((entry: { address: string }) => entry.address) : [allowed.address];
      expect(addresses.every((address) => classifyAddress(String(address)) === 'loopback')).toBe(true);
    }
  });

  it('stops http.request before it connects to a name that resolves to loopback', async () => {
    let hits = 0;
    const server = http.createServer((_req, res) => {
      hits += 1;
      res.end('ok');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    try {
      const outcome = (policy: AddressPolicy) =>
        new Promise<string>((resolve) => {
          const request = http.get(`http://localhost:${port}/`, { lookup: createGuardedLookup(policy), agent: false }, (res) => {
            res.resume();
            resolve(`status ${res.statusCode}`);
          });
          request.on('error', (error) => resolve(error.name));
        });
      expect(await outcome(STRICT)).toBe('AddressRefusedError');
      expect(hits).toBe(0);
      expect(await outcome(LOOPBACK_ONLY)).toBe('status 200');
      expect(hits).toBe(1);
    } finally {
      server.close();
    }
  });
});

interface ReceivedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

describe('WebhookNotifier', () => {
  const received: ReceivedRequest[] = [];
  let server: http.Server;
  let base: string;
  const secret = generateWebhookSecret();
  const notifier = new WebhookNotifier({ policy: LOOPBACK_ONLY });
  /** What /big managed to send before the client hung up: bytes accepted, and whether it sent it all. */
  let bigSent: Promise<{ bytes: number; complete: boolean }> = Promise.resolve({ bytes: 0, complete: false });
  const BIG_ANSWER = 64 * 1024 * 1024;

  /**
   * Streams a 64 MiB answer in 64 KiB chunks, waiting for `drain` (the client reading) between them,
   * so what it manages to send is what the client read plus the sockets' buffers.
   */
  function streamBig(res: http.ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(BIG_ANSWER) });
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let bytes = 0;
    bigSent = new Promise((resolve) => {
      res.on('close', () => resolve({ bytes, complete: bytes === BIG_ANSWER }));
    });
    const pump = (): void => {
      while (bytes < BIG_ANSWER && !res.destroyed) {
        bytes += chunk.length;
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
      if (bytes === BIG_ANSWER) res.end();
    };
    pump();
  }

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const path = req.url ?? '/';
        received.push({ method: req.method ?? '', path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        if (path === '/hang') return; // never answers
        if (path === '/big') {
          streamBig(res);
          return;
        }
        const status = /^\/status\/(\d{3})$/.exec(path)?.[1];
        const code = status ? Number(status) : 200;
        res.writeHead(code, code >= 300 && code < 400 ? { location: 'http://10.0.0.1/elsewhere' } : {});
        res.end(code === 204 ? undefined : 'thanks');
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    server.close();
  });

  const lastFor = (path: string): ReceivedRequest => {
    const request = received.filter((entry) => entry.path === path).at(-1);
    if (!request) throw new Error(`no request to ${path}`);
    return request;
  };

  it('posts the signed Standard Webhooks envelope', async () => {
    const sent = message({ endpoint: { url: `${base}/hook`, secret } });
    const before = Math.floor(Date.now() / 1000);
    const result = await notifier.deliver(sent, AbortSignal.timeout(5000));
    expect(result).toEqual({ ok: true, statusCode: 200 });

    const request = lastFor('/hook');
    expect(request.method).toBe('POST');
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers['user-agent']).toMatch(/Tickler/);
    expect(request.headers['webhook-id']).toBe(sent.messageId);
    const timestamp = Number(request.headers['webhook-timestamp']);
    expect(timestamp).toBeGreaterThanOrEqual(before);
    expect(timestamp).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    expect(JSON.parse(request.body)).toEqual({ type: 'reminder.fired', timestamp: sent.payload.firedAt, data: sent.payload });

    expect(verifyWebhook({ headers: request.headers, body: request.body, secret })).toEqual({
      ok: true,
      id: sent.messageId,
      timestamp,
    });
    const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
    const independent = createHmac('sha256', key).update(`${sent.messageId}.${timestamp}.${request.body}`).digest('base64');
    expect(request.headers['webhook-signature']).toBe(`v1,${independent}`);
  });

  it('keeps the webhook-id across attempts of the same message', async () => {
    const first = message({ endpoint: { url: `${base}/retry`, secret } });
    expect((await notifier.deliver(first, AbortSignal.timeout(5000))).ok).toBe(true);
    const firstRequest = lastFor('/retry');
    expect((await notifier.deliver({ ...first, attempt: 2, deliveryId: randomUUID() }, AbortSignal.timeout(5000))).ok).toBe(true);
    const secondRequest = lastFor('/retry');
    expect(secondRequest).not.toBe(firstRequest);
    expect(secondRequest.headers['webhook-id']).toBe(first.messageId);
    expect(firstRequest.headers['webhook-id']).toBe(first.messageId);
    expect(verifyWebhook({ headers: secondRequest.headers, body: secondRequest.body, secret }).ok).toBe(true);
  });

  it.each([
    [200, true, false],
    [204, true, false],
    [301, false, false],
    [302, false, false],
    [400, false, false],
    [404, false, false],
    [410, false, false],
    [408, false, true],
    [429, false, true],
    [500, false, true],
    [502, false, true],
    [503, false, true],
  ])('HTTP %i: ok=%s retryable=%s', async (status, ok, retryable) => {
    const result = await notifier.deliver(message({ endpoint: { url: `${base}/status/${status}`, secret } }), AbortSignal.timeout(5000));
    expect(result.statusCode).toBe(status);
    expect(result.ok).toBe(ok);
    if (!result.ok) {
      expect(result.retryable).toBe(retryable);
      expect(result.error).toContain(String(status));
      expect(result.error.length).toBeLessThan(300);
    }
    expect(lastFor(`/status/${status}`).headers['webhook-signature']).toMatch(/^v1,/);
  });

  it('reads only a little of a large answer, and hangs up', async () => {
    const result = await notifier.deliver(message({ endpoint: { url: `${base}/big`, secret } }), AbortSignal.timeout(30_000));
    expect(result).toEqual({ ok: true, statusCode: 200 });
    // The receiver's side: the connection closed before the 64 MiB were sent. What it sent is what the
    // client read (4 KiB) plus the loopback sockets' buffers, a few MiB at most; reading the whole
    // answer would show 64 MiB here.
    const sent = await bigSent;
    expect(sent.complete).toBe(false);
    expect(sent.bytes).toBeLessThan(8 * 1024 * 1024);
  });

  it('treats a refused connection as retryable', async () => {
    const port = await closedPort();
    const result = await notifier.deliver(message({ endpoint: { url: `http://127.0.0.1:${port}/`, secret } }), AbortSignal.timeout(5000));
    expect(result).toMatchObject({ ok: false, retryable: true });
    if (!result.ok) expect(result.error).toMatch(/ECONNREFUSED/);
  });

  it('gives up promptly when the signal aborts on a receiver that never answers', async () => {
    const started = Date.now();
    const result = await notifier.deliver(message({ endpoint: { url: `${base}/hang`, secret } }), AbortSignal.timeout(300));
    const elapsed = Date.now() - started;
    // 'timed out' is the abort's own answer; the receiver never answers, so without the abort this
    // would hang until the test's timeout. The bound is the signal's 300 ms with a 20× margin for a
    // loaded machine, not a latency figure.
    expect(result).toEqual({ ok: false, retryable: true, error: 'timed out' });
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(20 * 300);
    expect(lastFor('/hang').headers['webhook-id']).toBeDefined();
  });

  it('refuses private destinations without sending, and does not retry them', async () => {
    const count = received.length;
    const strict = new WebhookNotifier({ policy: STRICT });
    for (const url of [`${base}/hook`, `http://localhost:${new URL(base).port}/hook`, 'http://[::ffff:127.0.0.1]/', 'ftp://example.com/']) {
      const result = await strict.deliver(message({ endpoint: { url, secret } }), AbortSignal.timeout(5000));
      expect(result, url).toMatchObject({ ok: false, retryable: false });
      if (!result.ok) expect(result.error).toMatch(/refused/);
    }
    expect(received.length).toBe(count);
  });

  it('reaches a name through the guarded lookup when its addresses are allowed', async () => {
    const result = await notifier.deliver(
      message({ endpoint: { url: `http://localhost:${new URL(base).port}/by-name`, secret } }),
      AbortSignal.timeout(5000),
    );
    expect(result).toEqual({ ok: true, statusCode: 200 });
    expect(lastFor('/by-name').method).toBe('POST');
  });

  it('fails without throwing on a missing endpoint, a bad secret or an aborted signal', async () => {
    expect(await notifier.deliver(message(), AbortSignal.timeout(5000))).toMatchObject({ ok: false, retryable: false });
    const badSecret = await notifier.deliver(message({ endpoint: { url: `${base}/hook`, secret: 'whsec_@@' } }), AbortSignal.timeout(5000));
    expect(badSecret).toMatchObject({ ok: false, retryable: false });
    const badId = await notifier.deliver(message({ messageId: 'msg_1\r\nX-Injected: 1', endpoint: { url: `${base}/hook`, secret } }), AbortSignal.timeout(5000));
    expect(badId).toMatchObject({ ok: false, retryable: false });
    const controller = new AbortController();
    controller.abort();
    expect(await notifier.deliver(message({ endpoint: { url: `${base}/hook`, secret } }), controller.signal)).toEqual({
      ok: false,
      retryable: true,
      error: 'aborted',
    });
  });
});

interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
}

/** Enough quoted-printable decoding to read the text back. */
function decodeQuotedPrintable(raw: string): string {
  return raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_match, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

describe('EmailNotifier', () => {
  const mails: ReceivedMail[] = [];
  let smtp: SMTPServer;
  let smtpUrl: string;
  let notifier: EmailNotifier;

  beforeAll(async () => {
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      closeTimeout: 200,
      onRcptTo(address: SMTPServerAddress, _session, callback) {
        const local = address.address.split('@')[0];
        const refusal = local === 'reject550' ? 550 : local === 'reject451' ? 451 : undefined;
        if (refusal === undefined) return callback();
        const error = Object.assign(new Error(refusal === 550 ? 'No such user' : 'Try again later'), { responseCode: refusal });
        return callback(error);
      },
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          mails.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((entry) => entry.address),
            raw: Buffer.concat(chunks).toString('utf8'),
          });
          // A recipient that makes the server sit on the message, to test the abort.
          if (session.envelope.rcptTo.some((entry) => entry.address.startsWith('slow@'))) return;
          callback();
        });
      },
    });
    smtp.listen(0, '127.0.0.1');
    await once(smtp.server, 'listening');
    smtpUrl = `smtp://127.0.0.1:${(smtp.server.address() as AddressInfo).port}`;
    notifier = new EmailNotifier({ smtpUrl, from: 'Tickler <reminders@tickler.test>' });
  });

  afterAll(async () => {
    await notifier.close();
    await new Promise<void>((resolve) => smtp.close(() => resolve()));
  });

  it('sends one mail with the task title in subject and body', async () => {
    const sent = message({ email: 'alice@example.com', payload: payload('Renew the passport') });
    const result = await notifier.deliver(sent, AbortSignal.timeout(10_000));
    expect(result).toEqual({ ok: true });
    const delivered = mails.filter((mail) => mail.to.includes('alice@example.com'));
    expect(delivered).toHaveLength(1);
    const mail = delivered[0];
    if (!mail) throw new Error('no mail');
    expect(mail.to).toEqual(['alice@example.com']);
    expect(mail.from).toBe('reminders@tickler.test');
    const [head = '', ...bodyParts] = mail.raw.split(/\r\n\r\n/);
    const body = decodeQuotedPrintable(bodyParts.join('\r\n\r\n'));
    expect(head).toMatch(/^Subject: Reminder: Renew the passport$/m);
    expect(head).toMatch(/^To: alice@example.com$/m);
    expect(head).toContain(`Message-ID: <${sent.messageId}@tickler.test>`);
    // Header names are case-insensitive; nodemailer writes this one as X-Tickler-Message-ID.
    expect(head.toLowerCase()).toContain(`x-tickler-message-id: ${sent.messageId}`.toLowerCase());
    expect(body).toContain('Renew the passport');
    expect(body).toContain('Deadline: 2030-01-02T10:00:00.000Z');
    expect(body).toContain('Reminder time: 2030-01-02T09:00:00.000Z');
    expect(body).toContain('text/html');
  });

  it('escapes HTML and keeps the subject on one line', () => {
    const content = emailContent(payload('Pay <b>rent</b> & "fees"\r\nBcc: victim@example.com'));
    expect(content.html).toContain('Pay &#60;b&#62;rent&#60;/b&#62; &#38; &#34;fees&#34;');
    expect(content.html).not.toContain('<b>rent');
    expect(content.subject).toBe('Reminder: Pay <b>rent</b> & "fees" Bcc: victim@example.com');
    expect(content.text).toContain('Pay <b>rent</b>');
  });

  it('treats a 550 rejection as permanent', async () => {
    const result = await notifier.deliver(message({ email: 'reject550@example.com' }), AbortSignal.timeout(10_000));
    expect(result).toMatchObject({ ok: false, retryable: false, statusCode: 550 });
  });

  it('treats a 451 rejection as retryable', async () => {
    const result = await notifier.deliver(message({ email: 'reject451@example.com' }), AbortSignal.timeout(10_000));
    expect(result).toMatchObject({ ok: false, retryable: true, statusCode: 451 });
  });

  it('refuses an address that would name several recipients, without sending', async () => {
    const count = mails.length;
    const result = await notifier.deliver(message({ email: 'a@example.com, b@example.com' }), AbortSignal.timeout(10_000));
    expect(result).toMatchObject({ ok: false, retryable: false });
    expect(await notifier.deliver(message(), AbortSignal.timeout(10_000))).toMatchObject({ ok: false, retryable: false });
    expect(mails.length).toBe(count);
  });

  it('treats a closed SMTP port as retryable', async () => {
    const port = await closedPort();
    const closed = new EmailNotifier({ smtpUrl: `smtp://127.0.0.1:${port}`, from: 'reminders@tickler.test' });
    try {
      const result = await closed.deliver(message({ email: 'bob@example.com' }), AbortSignal.timeout(10_000));
      expect(result).toMatchObject({ ok: false, retryable: true });
    } finally {
      await closed.close();
    }
  });

  it('gives up promptly when the signal aborts', async () => {
    const slow = new EmailNotifier({ smtpUrl, from: 'reminders@tickler.test' });
    try {
      const started = Date.now();
      const result = await slow.deliver(message({ email: 'slow@example.com' }), AbortSignal.timeout(300));
      expect(result).toEqual({ ok: false, retryable: true, error: 'timed out' });
      // The signal's 300 ms with a 20× margin for a loaded machine (see the webhook case above).
      expect(Date.now() - started).toBeLessThan(20 * 300);
    } finally {
      await slow.close();
    }
  });

  it('parses SMTP_URL without echoing secrets', () => {
    expect(smtpOptionsFromUrl('smtps://user%40x:p%3Ass@mail.example.com')).toEqual({
      host: 'mail.example.com',
      port: 465,
      secure: true,
      auth: { user: 'user@x', pass: 'p:ss' },
    });
    expect(smtpOptionsFromUrl('smtp://mail.example.com:2525')).toEqual({ host: 'mail.example.com', port: 2525, secure: false, auth: undefined });
    expect(() => smtpOptionsFromUrl('http://user:hunter2@mail.example.com')).toThrow(/smtp:\/\//);
    expect(() => smtpOptionsFromUrl('http://user:hunter2@mail.example.com')).not.toThrow(/hunter2/);
    expect(() => smtpOptionsFromUrl('smtp://user:hunter2@mail.example.com?pool=true')).toThrow(/query/);
    expect(() => smtpOptionsFromUrl('smtp://user:hunter2@mail.example.com?pool=true')).not.toThrow(/hunter2/);
    // The refusal must happen, and must not echo the password.
    expect(() => smtpOptionsFromUrl('smtpz://user:hunter2@x')).toThrow(/smtp:\/\//);
    expect(() => smtpOptionsFromUrl('smtpz://user:hunter2@x')).not.toThrow(/hunter2/);
  });
});

describe('the stored payload given out (reminderFiredPayload)', () => {
  const stored = (time: string) =>
    reminderFiredPayload({ eventId: 7n, taskId: 'a', reminderId: 'b', payload: { taskTitle: 't', deadline: time, triggerAt: time, firedAt: time } });

  it('gives every stored time as RFC 3339 UTC with milliseconds and Z, whatever offset the log holds', () => {
    for (const time of ['2026-11-30T23:50:39.123+00:00', '2026-11-30T18:50:39.123-05:00', '2026-12-01T05:20:39.123+05:30', '2026-11-30T23:50:39.123Z']) {
      expect(stored(time), time).toMatchObject({ deadline: '2026-11-30T23:50:39.123Z', triggerAt: '2026-11-30T23:50:39.123Z', firedAt: '2026-11-30T23:50:39.123Z' });
    }
    expect(stored('2026-11-30T23:50:39+00:00').firedAt).toBe('2026-11-30T23:50:39.000Z');
  });

  it('gives a value that is no time JavaScript can hold as it is stored, rather than failing the delivery', () => {
    for (const time of ['', 'soon', '294276-12-31T23:59:59.999+00:00']) expect(stored(time).firedAt, time).toBe(time);
  });
});
