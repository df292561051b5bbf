/**
 * A row deleted while a request reads it answers NOT_FOUND at the field that needed it, never the
 * masked "Unexpected error.".
 *
 * A read is more than one statement whenever a nested selection is loaded apart from its parent:
 * Prisma reads an `include` relation by relation (tasks, then their reminders, then those reminders'
 * task), and Pothos loads a relation its parent's query did not plan (the page of src/graphql/
 * task-page.ts, a mutation's payload after its commit) with `findUniqueOrThrow` on the parent. Each
 * statement sees the database as it is when it runs (READ COMMITTED), so a task deleted between two
 * of them leaves a reminder whose required `task` is null (GraphQL's non-null check then fails) or a
 * parent that is no longer found (Prisma P2025). Both are wrapped here, for every field that can
 * load apart from its parent (`t.relation`, `t.relatedConnection`, `t.field` with a `select`),
 * whatever the model.
 *
 * Why a typed error and not one snapshot per request (REPEATABLE READ READ ONLY around each query
 * operation): the hottest read, a page of tasks with their reminders, is one statement (issue 10),
 * and a transaction around it makes three (BEGIN, the page, COMMIT), two more round trips, and holds
 * a pooled connection for the whole execution instead of per statement; Prisma's client and the
 * page's raw pg read would both have to be routed to that one connection from beneath Prisma. And a
 * mutation's payload is read after its transaction committed, where no read snapshot can reach. The
 * race is rare (a few reads in a hundred while another client deletes in a loop) and a retry answers
 * it, so it costs nothing until it happens.
 */
import SchemaBuilder, { BasePlugin, isThenable, type PothosOutputFieldConfig, type SchemaTypes } from '@pothos/core';
import { GraphQLError, type GraphQLFieldResolver, type GraphQLResolveInfo } from 'graphql';
import { ErrorCode } from '../../domain/errors.js';
import { Prisma } from '../../generated/prisma/client.js';

declare global {
  export namespace PothosSchemaTypes {
    interface Plugins<Types extends SchemaTypes> {
      vanishedRows: VanishedRowsPlugin<Types>;
    }
  }
}

const pluginName = 'vanishedRows';

/** The typed answer: what was being read, and that reading again will answer without it. */
function vanished(info: GraphQLResolveInfo): GraphQLError {
  return new GraphQLError(`a row this request read (${info.parentType.name}.${info.fieldName}) was deleted meanwhile; read again`, {
    extensions: { code: ErrorCode.NOT_FOUND },
  });
}

/** Prisma's "no record was found" (P2025): Pothos' fallback load of a parent that is gone. */
function isRecordNotFound(error: unknown): boolean {
  return error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2025';
}

interface PrismaFieldExtensions {
  /** What the field reads of its parent's row: a field with one may load it apart (plugin-prisma). */
  pothosPrismaSelect?: unknown;
  /** The relation's DMMF field, on `t.relation` and `t.relatedConnection` fields. */
  pothosPrismaRelationField?: unknown;
}

/** plugin-prisma's extensions on a field, read without depending on its types. */
function prismaExtensionsOf<Types extends SchemaTypes>(fieldConfig: PothosOutputFieldConfig<Types>): PrismaFieldExtensions {
  return (fieldConfig.extensions ?? {}) as PrismaFieldExtensions;
}

export class VanishedRowsPlugin<Types extends SchemaTypes> extends BasePlugin<Types> {
  override wrapResolve(
    resolver: GraphQLFieldResolver<unknown, Types['Context'], object>,
    fieldConfig: PothosOutputFieldConfig<Types>,
  ): GraphQLFieldResolver<unknown, Types['Context'], object> {
    const extensions = prismaExtensionsOf(fieldConfig);
    // The fields plugin-prisma itself wraps with its fallback load: relations, and `t.field`s with a
    // `select` (a task's recurrence, a reminder's kind) whose parent row came without it.
    if (fieldConfig.kind !== 'PrismaObject' || !extensions.pothosPrismaSelect) return resolver;
    // A nullable relation (a snooze's origin, a delivery's endpoint) or field may well be null: only
    // a required relation that comes back empty means its row went away between two statements.
    const required = typeof extensions.pothosPrismaRelationField === 'object' && extensions.pothosPrismaRelationField !== null && !fieldConfig.type.nullable;
    const settle = (value: unknown, info: GraphQLResolveInfo): unknown => {
      if (required && (value === null || value === undefined)) throw vanished(info);
      return value;
    };
    const fail = (error: unknown, info: GraphQLResolveInfo): never => {
      throw isRecordNotFound(error) ? vanished(info) : error;
    };
    return (parent, args, context, info) => {
      let result: unknown;
      try {
        result = resolver(parent, args, context, info);
      } catch (error) {
        return fail(error, info);
      }
      // Loaded relations resolve synchronously from the parent row; keep them synchronous.
      if (isThenable(result)) return Promise.resolve(result).then((value) => settle(value, info), (error: unknown) => fail(error, info));
      return settle(result, info);
    };
  }
}

SchemaBuilder.registerPlugin(pluginName, VanishedRowsPlugin);

export default pluginName;
