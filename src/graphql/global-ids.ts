/**
 * Relay global ids (`base64("Task:<uuid>")`). An id a client made up, mangled, or took from another
 * type must read as "not found", never as an internal error.
 */
import { decodeGlobalID, encodeGlobalID } from '@pothos/plugin-relay';
import { NotFoundError } from '../domain/errors.js';
import { isUuid } from '../domain/ownership.js';

export type NodeTypename = 'Task' | 'Reminder' | 'WebhookEndpoint' | 'Delivery';

/** Like Pothos' decoder, but a malformed id decodes to a typename no type has, instead of throwing. */
export function decodeGlobalIdLeniently(globalId: string): { typename: string; id: string } {
  try {
    return decodeGlobalID(globalId);
  } catch {
    return { typename: '', id: '' };
  }
}

/** The database id inside a global id of `typename`; NotFoundError for anything else. */
export function databaseIdOf(globalId: string, typename: NodeTypename): string {
  const { typename: actual, id } = decodeGlobalIdLeniently(globalId);
  if (actual !== typename || !isUuid(id)) throw new NotFoundError(typename);
  return id;
}

export function globalIdOf(typename: NodeTypename, id: string): string {
  return encodeGlobalID(typename, id);
}
