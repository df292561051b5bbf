/**
 * Webhook deliveries: one signed POST (Standard Webhooks headers) to the endpoint's URL. The
 * request goes through the address guard at connect time, follows no redirects (a redirect could
 * lead to an address the guard never saw), and reads only a little of the answer.
 */
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { log } from '../logger.js';
import { checkWebhookUrl, createGuardedLookup, AddressRefusedError, type AddressPolicy } from './address-guard.js';
import type { DeliveryMessage, DeliveryResult, Notifier, ReminderFiredPayload } from './notifier.js';
import { signWebhook } from './standard-webhooks.js';

export interface WebhookNotifierOptions {
  policy: AddressPolicy;
  userAgent?: string;
  /** How much of a response body to read before hanging up; receivers only owe us a status. */
  maxResponseBytes?: number;
}

/** The Standard Webhooks envelope: `type`, `timestamp` of the event, and the event's `data`. */
export function webhookBody(payload: ReminderFiredPayload): string {
  return JSON.stringify({ type: payload.type, timestamp: payload.firedAt, data: payload });
}

/** The dispatcher backs off and retries these; every other failure would fail again. */
function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

const NETWORK_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'DNS lookup failed',
  EAI_AGAIN: 'DNS lookup failed (temporary)',
  EPIPE: 'connection closed while sending',
};

/** A one-line description with no stack, short enough for the delivery row. */
function describe(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code && NETWORK_ERRORS[code]) return `${NETWORK_ERRORS[code]} (${code})`;
  const text = error instanceof Error ? error.message : String(error);
  return (code ? `${code}: ${text}` : text).replace(/\s+/g, ' ').slice(0, 200);
}

/** The dispatcher's deadline shows up as a TimeoutError; anything else is a plain abort. */
function abortReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  return reason instanceof Error && reason.name === 'TimeoutError' ? 'timed out' : 'aborted';
}

export class WebhookNotifier implements Notifier {
  readonly channel = 'WEBHOOK' as const;
  private readonly policy: AddressPolicy;
  private readonly userAgent: string;
  private readonly maxResponseBytes: number;
  private readonly lookup: LookupFunction;

  constructor(options: WebhookNotifierOptions) {
    this.policy = options.policy;
    this.userAgent = options.userAgent ?? 'Tickler-Webhooks/1';
    this.maxResponseBytes = options.maxResponseBytes ?? 4096;
    this.lookup = createGuardedLookup(options.policy);
  }

  async deliver(message: DeliveryMessage, signal: AbortSignal): Promise<DeliveryResult> {
    const result = await this.attempt(message, signal);
    const fields = { deliveryId: message.deliveryId, attempt: message.attempt, statusCode: result.statusCode };
    if (result.ok) log.debug('webhook delivered', fields);
    else log.info('webhook delivery failed', { ...fields, retryable: result.retryable, error: result.error });
    return result;
  }

  private async attempt(message: DeliveryMessage, signal: AbortSignal): Promise<DeliveryResult> {
    const endpoint = message.endpoint;
    if (!endpoint) return { ok: false, retryable: false, error: 'delivery has no webhook endpoint' };
    // Checked again on every attempt: the policy may have tightened since the URL was accepted.
    const refusal = checkWebhookUrl(endpoint.url, this.policy);
    if (refusal) return { ok: false, retryable: false, error: `URL refused: ${refusal}` };
    if (signal.aborted) return { ok: false, retryable: true, error: abortReason(signal) };

    const body = Buffer.from(webhookBody(message.payload));
    const timestamp = Math.floor(Date.now() / 1000);
    let signature: string;
    try {
      signature = signWebhook({ id: message.messageId, timestamp, body, secret: endpoint.secret });
    } catch (error) {
      return { ok: false, retryable: false, error: describe(error) };
    }
    return this.post(new URL(endpoint.url), body, {
      'content-type': 'application/json',
      'content-length': String(body.length),
      'user-agent': this.userAgent,
      'webhook-id': message.messageId,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signature,
    }, signal);
  }

  private post(url: URL, body: Buffer, headers: http.OutgoingHttpHeaders, signal: AbortSignal): Promise<DeliveryResult> {
    return new Promise<DeliveryResult>((resolve) => {
      let settled = false;
      const finish = (result: DeliveryResult): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        // Hang up whatever is left: the rest of the body is not wanted, and no connection is reused.
        request.destroy();
        resolve(result);
      };
      const onAbort = (): void => finish({ ok: false, retryable: true, error: abortReason(signal) });

      const transport = url.protocol === 'https:' ? https : http;
      let request: http.ClientRequest;
      try {
        request = transport.request(url, {
          method: 'POST',
          headers,
          lookup: this.lookup,
          // A fresh connection per delivery, so every connection has passed the guarded lookup.
          agent: false,
        });
      } catch (error) {
        // Node validates headers synchronously (e.g. a control character in a messageId).
        settled = true;
        resolve({ ok: false, retryable: false, error: describe(error) });
        return;
      }

      request.on('response', (response) => {
        const status = response.statusCode ?? 0;
        let received = 0;
        const done = (): void => finish(this.classify(status, response.headers.location));
        response.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received >= this.maxResponseBytes) done();
        });
        response.on('end', done);
        // The status is already known; a body cut short changes nothing.
        response.on('error', done);
        response.on('close', done);
      });
      request.on('error', (error) => {
        if (error instanceof AddressRefusedError) finish({ ok: false, retryable: false, error: `URL refused: ${error.message}` });
        else finish({ ok: false, retryable: true, error: describe(error) });
      });

      signal.addEventListener('abort', onAbort, { once: true });
      request.end(body);
    });
  }

  private classify(status: number, location: string | undefined): DeliveryResult {
    if (status >= 200 && status < 300) return { ok: true, statusCode: status };
    if (status >= 300 && status < 400) {
      const target = location ? ` to ${location.slice(0, 200)}` : '';
      return { ok: false, retryable: false, statusCode: status, error: `HTTP ${status}: redirect${target} not followed` };
    }
    return { ok: false, retryable: isRetryableStatus(status), statusCode: status, error: `HTTP ${status}` };
  }
}
