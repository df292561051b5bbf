/**
 * What a viewer may see. Every read and write goes through these filters or through
 * `lockOwnedTask`, so another user's data is indistinguishable from data that never existed.
 */
import type { Prisma } from '../generated/prisma/client.js';
import { NotFoundError } from './errors.js';
import type { Viewer } from './types.js';

type Transaction = Prisma.TransactionClient;

/** A user id no user has: lookups without a viewer match nothing. */
const NOBODY = '00000000-0000-0000-0000-000000000000';

export function ownedTasks(viewer: Viewer | null): { ownerId: string } {
  return { ownerId: viewer?.userId ?? NOBODY };
}

export function ownedReminders(viewer: Viewer | null): { task: { ownerId: string } } {
  return { task: ownedTasks(viewer) };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids come from clients; one that is not even a uuid names nothing, rather than a database error. */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}

export interface LockedTask {
  id: string;
  status: 'ACTIVE' | 'COMPLETED' | 'CANCELED';
  deadline: Date;
  /** IANA zone of the task's local reminders. */
  timeZone: string;
}

/**
 * Locks the viewer's task for the rest of the transaction (`FOR UPDATE`), so concurrent changes to
 * one task (reminder counts, cancellation, deadline moves) happen one after another.
 */
export async function lockOwnedTask(tx: Transaction, viewer: Viewer, taskId: string): Promise<LockedTask> {
  if (!isUuid(taskId)) throw new NotFoundError('Task');
  const rows = await tx.$queryRaw<LockedTask[]>`
    SELECT id, status::text AS status, deadline, time_zone AS "timeZone"
    FROM tasks
    WHERE id = ${taskId}::uuid AND owner_id = ${viewer.userId}::uuid
    FOR UPDATE`;
  const task = rows[0];
  if (!task) throw new NotFoundError('Task');
  return task;
}
