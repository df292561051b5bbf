/**
 * A webhook receiver on 127.0.0.1 for the crash scenario: in `hold` mode it answers nothing (every
 * request stays open, as a slow receiver would keep a delivery in flight); in `answer` mode it
 * answers 204 at once, including to the requests it held. It records every request by its
 * Standard Webhooks `webhook-id` header (the same on every retry of one delivery).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedWebhook {
  webhookId: string;
  /** Date.now() when the request arrived. */
  at: number;
  answered: boolean;
}

export interface WebhookReceiver {
  url: string;
  /** Requests open right now (held, not answered, connection not closed). */
  openCount(): number;
  /** Every request received, in order. */
  received: ReceivedWebhook[];
  /** Stops holding: answers the held requests and every later one with 204. */
  answerAll(): void;
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  let answering = false;
  const held = new Set<http.ServerResponse>();
  const received: ReceivedWebhook[] = [];
  const server = http.createServer((request, response) => {
    const webhookId = String(request.headers['webhook-id'] ?? '');
    const entry: ReceivedWebhook = { webhookId, at: Date.now(), answered: false };
    received.push(entry);
    request.resume();
    request.on('end', () => {
      if (answering) {
        entry.answered = true;
        response.writeHead(204).end();
        return;
      }
      held.add(response);
      response.on('close', () => held.delete(response));
      response.on('finish', () => (entry.answered = true));
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    openCount: () => held.size,
    received,
    answerAll: () => {
      answering = true;
      for (const response of held) if (!response.writableEnded) response.writeHead(204).end();
      held.clear();
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
