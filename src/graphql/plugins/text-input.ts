/**
 * One input layer for text: every string argument of every field (inputs, ids, cursors, filters)
 * is checked before the field's resolver or subscription runs, so a NUL or a lone UTF-16 surrogate
 * never reaches a query (PostgreSQL would answer 22021, masked as "Unexpected error.").
 *
 * The refusal is a VALIDATION error naming the argument path (`title`, `url`, `id`, `after`; the
 * `input` wrapper of mutations is left out, as in the domain's own ValidationErrors). A field that
 * lists ValidationError among its errors answers it as data; any other field answers a top-level
 * GraphQL error with `extensions: { code: "VALIDATION", field }`.
 *
 * Must come after ScopeAuth in the plugin list: unauthenticated callers still get UNAUTHENTICATED,
 * and the Errors plugin (outermost) turns the thrown ValidationError into data.
 */
import SchemaBuilder, { BasePlugin, type PothosOutputFieldConfig, type SchemaTypes } from '@pothos/core';
import { GraphQLError, type GraphQLFieldResolver } from 'graphql';
import { ValidationError } from '../../domain/errors.js';
import { findUnstorableText } from '../../domain/text.js';

declare global {
  export namespace PothosSchemaTypes {
    interface Plugins<Types extends SchemaTypes> {
      textInput: TextInputPlugin<Types>;
    }
  }
}

const pluginName = 'textInput';

/** The first unstorable string among a field's arguments, with its path as clients name it. */
function findInArguments(args: object): { path: string; reason: string } | null {
  for (const [name, value] of Object.entries(args)) {
    const found = findUnstorableText(value, name === 'input' ? '' : name);
    if (found) return found;
  }
  return null;
}

function answersValidationAsData<Types extends SchemaTypes>(fieldConfig: PothosOutputFieldConfig<Types>): boolean {
  // `errors` comes from the Errors plugin's field options; read it without depending on its types.
  const errors: unknown = (fieldConfig.pothosOptions as { errors?: { types?: unknown } }).errors;
  if (typeof errors !== 'object' || errors === null || !('types' in errors) || !Array.isArray(errors.types)) return false;
  return errors.types.includes(ValidationError);
}

export class TextInputPlugin<Types extends SchemaTypes> extends BasePlugin<Types> {
  override wrapResolve(
    resolver: GraphQLFieldResolver<unknown, Types['Context'], object>,
    fieldConfig: PothosOutputFieldConfig<Types>,
  ): GraphQLFieldResolver<unknown, Types['Context'], object> {
    if (Object.keys(fieldConfig.args).length === 0) return resolver;
    const refuse = refusalFor(fieldConfig);
    return (parent, args, context, info) => {
      const found = findInArguments(args);
      if (found) throw refuse(found);
      return resolver(parent, args, context, info);
    };
  }

  override wrapSubscribe(
    subscribe: GraphQLFieldResolver<unknown, Types['Context'], object> | undefined,
    fieldConfig: PothosOutputFieldConfig<Types>,
  ): GraphQLFieldResolver<unknown, Types['Context'], object> | undefined {
    if (subscribe === undefined || Object.keys(fieldConfig.args).length === 0) return subscribe;
    const refuse = refusalFor(fieldConfig);
    return (parent, args, context, info) => {
      const found = findInArguments(args);
      if (found) throw refuse(found);
      return subscribe(parent, args, context, info);
    };
  }
}

function refusalFor<Types extends SchemaTypes>(fieldConfig: PothosOutputFieldConfig<Types>): (found: { path: string; reason: string }) => Error {
  const asData = answersValidationAsData(fieldConfig);
  return ({ path, reason }) => {
    const message = `${path} ${reason}`;
    return asData ? new ValidationError(message, path) : new GraphQLError(message, { extensions: { code: 'VALIDATION', field: path } });
  };
}

SchemaBuilder.registerPlugin(pluginName, TextInputPlugin);

export default pluginName;
