import { GraphQLError } from 'graphql';
import { HubNotReadyError, MAX_REPLAY, SubscriberTooSlowError, type ReminderFiredEvent } from '../../events/hub.js';
import type { Database } from '../../db/client.js';
import { eventsDeletedThrough } from '../../maintenance/sql/events-deleted-through.js';
import { builder } from '../builder.js';
import { databaseIdOf, globalIdOf } from '../global-ids.js';

const ReminderFiredEventRef = builder.objectRef<ReminderFiredEvent>('ReminderFiredEvent').implement({
  description: 'A reminder of yours fired. `id` orders events; pass the last one you saw as `after` to resume.',
  fields: (t) => ({
    id: t.id({ resolve: (event) => event.id.toString() }),
    occurredAt: t.expose('occurredAt', { type: 'DateTime', description: 'When it fired.' }),
    triggerAt: t.expose('triggerAt', { type: 'DateTime', description: 'When it was due.' }),
    taskId: t.id({ resolve: (event) => globalIdOf('Task', event.taskId) }),
    reminderId: t.id({ resolve: (event) => globalIdOf('Reminder', event.reminderId) }),
    taskTitle: t.exposeString('taskTitle', { description: 'The title when it fired.' }),
    deadline: t.expose('deadline', { type: 'DateTime', description: 'The deadline when it fired.' }),
  }),
});

const MAX_EVENT_ID = 9_223_372_036_854_775_807n;

function parseEventId(value: string): bigint {
  const id = /^\d{1,19}$/.test(value) ? BigInt(value) : -1n;
  if (id < 0n || id > MAX_EVENT_ID) throw new GraphQLError('`after` must be the id of an event you received', { extensions: { code: 'VALIDATION', field: 'after' } });
  return id;
}

builder.subscriptionField('reminderFired', (t) =>
  t.withAuth({ signedIn: true }).field({
    type: ReminderFiredEventRef,
    description:
      `Your reminders as they fire, optionally for one task. With \`after\`, first replays what you missed since that event ` +
      `(up to ${MAX_REPLAY}), then continues live, with no gap and no duplicate.`,
    args: {
      taskId: t.arg.id({ required: false }),
      after: t.arg.id({ required: false }),
    },
    subscribe: async (_root, args, context) => {
      // The hub may refuse at once (not ready): translate that too.
      const after = args.after == null ? null : parseEventId(String(args.after));
      if (after !== null) await refuseBeyondReplayWindow(context.db, after);
      // An id that is not one of the viewer's tasks simply never matches.
      const taskId = args.taskId == null ? null : databaseIdOrNull(String(args.taskId));
      try {
        return new ClientFacing(
          context.events.subscribe(context.viewer.userId, after, (event) => taskId === null || event.taskId === taskId),
        );
      } catch (error) {
        if (error instanceof HubNotReadyError) throw new GraphQLError(error.message, { extensions: { code: 'NOT_READY' } });
        throw error;
      }
    },
    resolve: (event) => event,
  }),
);

/**
 * Resuming from an event at or before what retention has deleted (the `after` event itself may be
 * gone, and with it its place in the log) could silently skip deleted events: refuse with
 * REPLAY_WINDOW_EXCEEDED so the client reloads its state and subscribes afresh.
 */
async function refuseBeyondReplayWindow(db: Database, after: bigint): Promise<void> {
  const deletedThrough = await eventsDeletedThrough(db);
  if (deletedThrough !== null && after <= deletedThrough) {
    throw new GraphQLError(
      `events after ${after} are no longer kept (older than the replay window); reload your tasks, then subscribe without \`after\``,
      { extensions: { code: 'REPLAY_WINDOW_EXCEEDED' } },
    );
  }
}

function databaseIdOrNull(globalId: string): string {
  try {
    return databaseIdOf(globalId, 'Task');
  } catch {
    return 'no-such-task';
  }
}

/** The hub's refusals as the client's GraphQL errors; anything else is rethrown (and masked) as it is. */
function translateHubError(error: unknown): never {
  if (error instanceof SubscriberTooSlowError) throw new GraphQLError(error.message, { extensions: { code: 'SUBSCRIBER_TOO_SLOW' } });
  if (error instanceof HubNotReadyError) throw new GraphQLError(error.message, { extensions: { code: 'NOT_READY' } });
  throw error;
}

/**
 * The hub's refusals are the client's to handle (resubscribe later, or with `after`): not internal
 * errors. Forwards `return()` at once, so an unsubscribe reaches the hub immediately. A class, not
 * closures per subscription: thousands of idle subscriptions hold one each.
 */
class ClientFacing implements AsyncIterableIterator<ReminderFiredEvent> {
  constructor(private readonly events: AsyncIterableIterator<ReminderFiredEvent>) {}

  next(): Promise<IteratorResult<ReminderFiredEvent>> {
    return this.events.next().catch(translateHubError);
  }

  return(): Promise<IteratorResult<ReminderFiredEvent>> {
    return this.events.return?.() ?? Promise.resolve({ value: undefined, done: true });
  }

  throw(error?: unknown): Promise<IteratorResult<ReminderFiredEvent>> {
    return this.events.throw?.(error) ?? Promise.reject(error);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
