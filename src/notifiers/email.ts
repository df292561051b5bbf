/**
 * Email deliveries over SMTP (nodemailer's pooled transport), configured by one SMTP_URL such as
 * smtp://user:pass@mail.example.com:587 or smtps://…:465. One plain-text and one HTML part per
 * reminder. The Message-ID is derived from the delivery's messageId, so a mail sent twice (a retry
 * after a timeout that had in fact gone through) can be recognised as the same one.
 */
import { createTransport, type Transporter } from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool/index.js';
import type SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';
import { log } from '../logger.js';
import type { DeliveryMessage, DeliveryResult, Notifier, ReminderFiredPayload } from './notifier.js';

export interface EmailNotifierOptions {
  /** smtp:// (STARTTLS when offered) or smtps:// (TLS from the start), with optional user:pass. */
  smtpUrl: string;
  /** The From header, e.g. `Tickler <reminders@example.com>`. */
  from: string;
  /** Simultaneous SMTP connections; mail servers throttle clients that open many. */
  maxConnections?: number;
}

/** Nodemailer reads this pool option but its type definitions omit it. */
type PoolOptions = SMTPPool.Options & { maxRequeues: number };

/** Parses SMTP_URL; throws with a message fit for a start-up error, never echoing the password. */
export function smtpOptionsFromUrl(smtpUrl: string): Pick<PoolOptions, 'host' | 'port' | 'secure' | 'auth'> {
  let url: URL;
  try {
    url = new URL(smtpUrl);
  } catch {
    throw new Error('SMTP_URL is not a valid URL');
  }
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') throw new Error('SMTP_URL must start with smtp:// or smtps://');
  if (url.hostname === '') throw new Error('SMTP_URL has no host');
  if (url.search !== '') throw new Error('SMTP_URL takes no query parameters');
  const secure = url.protocol === 'smtps:';
  return {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port === '' ? (secure ? 465 : 587) : Number(url.port),
    secure,
    auth: url.username === '' ? undefined : { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) },
  };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** One line, bounded: titles are user input and end up in a header. */
function oneLine(text: string, max: number): string {
  return text.replace(/\s+/g, ' ').trim().slice(0, max);
}

/** A single plain address; anything a mail parser could read as several recipients is refused. */
function isPlainAddress(address: string): boolean {
  return address.length <= 254 && /^[^\s@,;:<>()[\]"\\]+@[^\s@,;:<>()[\]"\\]+\.[^\s@,;:<>()[\]"\\]+$/.test(address);
}

export function emailContent(payload: ReminderFiredPayload): { subject: string; text: string; html: string } {
  const title = oneLine(payload.taskTitle, 200);
  const lines: Array<[string, string]> = [
    ['Task', payload.taskTitle],
    ['Deadline', payload.deadline],
    ['Reminder time', payload.triggerAt],
  ];
  const text = [`Reminder: ${payload.taskTitle}`, '', ...lines.map(([label, value]) => `${label}: ${value}`), ''].join('\n');
  const rows = lines.map(([label, value]) => `<tr><th align="left">${label}</th><td>${escapeHtml(value)}</td></tr>`);
  const html = `<!doctype html><html><body><p>Reminder: <strong>${escapeHtml(payload.taskTitle)}</strong></p><table>${rows.join('')}</table></body></html>`;
  return { subject: `Reminder: ${title}`, text, html };
}

/** The dispatcher's deadline shows up as a TimeoutError; anything else is a plain abort. */
function abortReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  return reason instanceof Error && reason.name === 'TimeoutError' ? 'timed out' : 'aborted';
}

/** SMTP failures the dispatcher should try again: the server or the network may recover. */
const RETRYABLE_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ETLS', 'ECONNREFUSED', 'ECONNRESET', 'EAUTH', 'ENOAUTH']);

function classify(error: unknown): DeliveryResult {
  const smtp = error as SMTPConnection.SMTPError;
  const text = (error instanceof Error ? error.message : String(error)).replace(/\s+/g, ' ').slice(0, 200);
  const responseCode = typeof smtp.responseCode === 'number' ? smtp.responseCode : undefined;
  // Authentication is our configuration, not the recipient's fault: retry so reminders survive a
  // fixed password, even though the server answers 535.
  if (smtp.code === 'EAUTH' || smtp.code === 'ENOAUTH') {
    return { ok: false, retryable: true, statusCode: responseCode, error: `SMTP authentication failed: ${text}` };
  }
  if (responseCode !== undefined && responseCode >= 400 && responseCode < 500) {
    return { ok: false, retryable: true, statusCode: responseCode, error: text };
  }
  if (responseCode !== undefined && responseCode >= 500) {
    return { ok: false, retryable: false, statusCode: responseCode, error: text };
  }
  const retryable = smtp.code === undefined || RETRYABLE_CODES.has(smtp.code);
  return { ok: false, retryable, error: smtp.code ? `${smtp.code}: ${text}` : text };
}

export class EmailNotifier implements Notifier {
  readonly channel = 'EMAIL' as const;
  private readonly transport: Transporter<SMTPPool.SentMessageInfo, SMTPPool.Options>;
  private readonly from: string;
  private readonly messageIdDomain: string;

  constructor(options: EmailNotifierOptions) {
    const poolOptions: PoolOptions = {
      ...smtpOptionsFromUrl(options.smtpUrl),
      pool: true,
      maxConnections: options.maxConnections ?? 3,
      // Reconnect now and then, so one long-lived session does not carry every mail.
      maxMessages: 100,
      // One requeue covers a pooled connection the server had silently closed; beyond that the
      // dispatcher's backoff decides, rather than nodemailer requeueing forever.
      maxRequeues: 1,
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      // Bounds a send that continues after the dispatcher gave up on it, so pool slots come back.
      socketTimeout: 30_000,
      dnsTimeout: 10_000,
    };
    this.transport = createTransport(poolOptions);
    // An 'error' event with no listener would crash the process; failed sends reject on their own.
    this.transport.on('error', (error) => log.warn('SMTP transport error', { error }));
    this.from = options.from;
    this.messageIdDomain = /@([A-Za-z0-9.-]+)>?\s*$/.exec(options.from)?.[1] ?? 'tickler.invalid';
  }

  async deliver(message: DeliveryMessage, signal: AbortSignal): Promise<DeliveryResult> {
    const result = await this.attempt(message, signal);
    const fields = { deliveryId: message.deliveryId, attempt: message.attempt, statusCode: result.statusCode };
    if (result.ok) log.debug('email delivered', fields);
    else log.info('email delivery failed', { ...fields, retryable: result.retryable, error: result.error });
    return result;
  }

  private async attempt(message: DeliveryMessage, signal: AbortSignal): Promise<DeliveryResult> {
    const address = message.email?.trim();
    if (!address) return { ok: false, retryable: false, error: 'delivery has no email address' };
    if (!isPlainAddress(address)) return { ok: false, retryable: false, error: 'not a valid email address' };
    if (signal.aborted) return { ok: false, retryable: true, error: abortReason(signal) };

    const { subject, text, html } = emailContent(message.payload);
    const idPart = message.messageId.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 200);
    const sending = this.transport.sendMail({
      from: this.from,
      // An address object, so nodemailer does not parse the user's text for more recipients.
      to: { name: '', address },
      subject,
      text,
      html,
      messageId: `<${idPart}@${this.messageIdDomain}>`,
      headers: { 'X-Tickler-Message-Id': idPart },
    });
    const sent: Promise<DeliveryResult> = sending.then(
      () => ({ ok: true }),
      (error: unknown) => classify(error),
    );
    // Nodemailer cannot cancel one message inside a pool; give up waiting instead. The mail may
    // still go out, which the stable Message-ID makes recognisable as a duplicate.
    let onAbort = (): void => {};
    const aborted = new Promise<DeliveryResult>((resolve) => {
      onAbort = () => resolve({ ok: false, retryable: true, error: abortReason(signal) });
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([sent, aborted]);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  async close(): Promise<void> {
    this.transport.close();
  }
}
