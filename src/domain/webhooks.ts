/**
 * Users' webhook endpoints: where their fired reminders are POSTed, signed (Standard Webhooks).
 * The signing secret is shown once, when the endpoint is created.
 */
import type { Database } from '../db/client.js';
import type { WebhookEndpoint } from '../generated/prisma/client.js';
import { checkWebhookUrl, type AddressPolicy } from '../notifiers/address-guard.js';
import { generateWebhookSecret } from '../notifiers/standard-webhooks.js';
import { ErrorCode, NotFoundError, ValidationError } from './errors.js';
import { isUuid } from './ownership.js';
import { DEFAULT_POLICY, type DomainPolicy } from './policy.js';
import { inTransaction } from './transactions.js';
import type { Viewer } from './types.js';
import { parseOrThrow } from './validation.js';
import { z } from 'zod';

export const WEBHOOK_LIMITS = { endpointsPerUser: 10, descriptionLength: 200 } as const;

const descriptionSchema = z
  .string()
  .trim()
  .max(WEBHOOK_LIMITS.descriptionLength, `description must be at most ${WEBHOOK_LIMITS.descriptionLength} characters`)
  .nullish();

export async function createWebhookEndpoint(
  db: Database,
  viewer: Viewer,
  input: { url: string; description?: string | null },
  policy: AddressPolicy,
  domainPolicy: DomainPolicy = DEFAULT_POLICY,
): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
  const url = input.url.trim();
  const refusal = checkWebhookUrl(url, policy);
  if (refusal) throw new ValidationError(refusal, 'url');
  const description = parseOrThrow(descriptionSchema, input.description, 'description');
  const secret = generateWebhookSecret();
  return inTransaction(db, domainPolicy.transactions, async (tx) => {
    // Serialise this user's endpoint changes so the limit holds under concurrent requests.
    await tx.$queryRaw`SELECT id FROM users WHERE id = ${viewer.userId}::uuid FOR UPDATE`;
    const count = await tx.webhookEndpoint.count({ where: { userId: viewer.userId } });
    if (count >= WEBHOOK_LIMITS.endpointsPerUser) {
      throw new ValidationError(`at most ${WEBHOOK_LIMITS.endpointsPerUser} webhook endpoints per user`, 'url', ErrorCode.VALIDATION);
    }
    const endpoint = await tx.webhookEndpoint.create({
      data: { userId: viewer.userId, url, description: description || null, secret },
    });
    return { endpoint, secret };
  });
}

/** Deletes an endpoint; its pending deliveries go with it (cascade). */
export async function deleteWebhookEndpoint(
  db: Database,
  viewer: Viewer,
  endpointId: string,
  domainPolicy: DomainPolicy = DEFAULT_POLICY,
): Promise<string> {
  if (!isUuid(endpointId)) throw new NotFoundError('WebhookEndpoint');
  return inTransaction(db, domainPolicy.transactions, async (tx) => {
    const { count } = await tx.webhookEndpoint.deleteMany({ where: { id: endpointId, userId: viewer.userId } });
    if (count === 0) throw new NotFoundError('WebhookEndpoint');
    return endpointId;
  });
}
