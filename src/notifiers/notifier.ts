/**
 * External notifiers: the channels outside Tickler that hear about a fired reminder (webhooks,
 * email). Each is one small class behind this interface. The dispatcher claims delivery rows,
 * hands each to its channel's notifier with a deadline, and records the outcome; a notifier never
 * touches the database and never retries by itself.
 */

export type DeliveryChannel = 'WEBHOOK' | 'EMAIL';

import type { ReminderFiredPayload } from '../events/payload.js';

/** The body every channel describes (its format belongs to the event log: src/events/payload.ts). */
export type { ReminderFiredPayload };

export interface DeliveryMessage {
  deliveryId: string;
  /** Stable across retries of the same event (Standard Webhooks `webhook-id`), so receivers can deduplicate. */
  messageId: string;
  /** 1 for the first try. */
  attempt: number;
  payload: ReminderFiredPayload;
  /** For WEBHOOK deliveries. */
  endpoint?: { url: string; secret: string };
  /** For EMAIL deliveries. */
  email?: string;
}

export type DeliveryResult =
  | { ok: true; statusCode?: number }
  | {
      ok: false;
      /** Worth trying again later: network errors, timeouts, 429 and 5xx. */
      retryable: boolean;
      statusCode?: number;
      error: string;
    };

export interface Notifier {
  readonly channel: DeliveryChannel;
  /** Delivers one message. Must give up promptly when `signal` aborts (the dispatcher's timeout). */
  deliver(message: DeliveryMessage, signal: AbortSignal): Promise<DeliveryResult>;
  close?(): Promise<void>;
}
