/**
 * Compares prisma/schema.prisma with a real database and lists every difference in words.
 *
 * Tickler's migrations are hand-written SQL, so nothing but this check notices when the schema and
 * the SQL disagree; the Prisma client would then build queries against columns, types or
 * constraints that are not there. The schema side comes from Prisma's own parser (getDMMF), the
 * database side from information_schema and pg_catalog, both limited to the current schema.
 *
 * What Prisma's schema language cannot express is deliberately left alone: CHECK constraints,
 * expression indexes, and partial indexes other than unique ones. A partial unique index (declared
 * with the `partialIndexes` preview feature) is compared by its columns, its name and its predicate;
 * the DMMF gives no predicate, so that is read from the field's `@unique(where: ...)` in the schema
 * text (the forms `{ field: { not: null } }` and `raw("...")`). Everything else is compared in both
 * directions, so a column added by SQL alone is reported just like a field missing from the SQL.
 */
import internals from '@prisma/internals';
import type pg from 'pg';

type Datamodel = Awaited<ReturnType<typeof internals.getDMMF>>['datamodel'];
type Model = Datamodel['models'][number];
type Field = Model['fields'][number];
type SchemaEnum = Datamodel['enums'][number];

/** Prisma's own bookkeeping table: in every migrated database, never in the schema. */
const IGNORED_TABLES = new Set(['_prisma_migrations']);

// ---------------------------------------------------------------------------------------------
// The database side
// ---------------------------------------------------------------------------------------------

interface ColumnRow {
  table_name: string;
  column_name: string;
  data_type: string;
  udt_name: string;
  is_nullable: 'YES' | 'NO';
  column_default: string | null;
  datetime_precision: number | null;
  character_maximum_length: number | null;
  numeric_precision: number | null;
  numeric_scale: number | null;
}

interface IndexRow {
  table_name: string;
  index_name: string;
  is_unique: boolean;
  is_primary: boolean;
  /** Has a WHERE clause (a partial index). */
  has_predicate: boolean;
  /** The WHERE clause as PostgreSQL prints it (pg_get_expr), e.g. `(snoozed_from_id IS NOT NULL)`. */
  predicate: string | null;
  /** Has an expression column: not something the Prisma schema can declare. */
  has_expressions: boolean;
  columns: string[];
}

interface ForeignKeyRow {
  constraint_name: string;
  table_name: string;
  columns: string[];
  referenced_table: string;
  referenced_columns: string[];
  /** pg_constraint's one-letter codes: a = NO ACTION, r = RESTRICT, c = CASCADE, n = SET NULL, d = SET DEFAULT. */
  on_delete: string;
  on_update: string;
}

interface EnumRow {
  name: string;
  labels: string[];
}

interface DatabaseShape {
  tables: Set<string>;
  columns: Map<string, Map<string, ColumnRow>>;
  indexes: IndexRow[];
  foreignKeys: ForeignKeyRow[];
  enums: Map<string, string[]>;
}

async function readDatabase(client: pg.ClientBase): Promise<DatabaseShape> {
  const tables = await client.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables
      WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`,
  );
  const columns = await client.query<ColumnRow>(
    `SELECT table_name, column_name, data_type, udt_name, is_nullable, column_default,
            datetime_precision, character_maximum_length, numeric_precision, numeric_scale
       FROM information_schema.columns
      WHERE table_schema = current_schema()
      ORDER BY table_name, ordinal_position`,
  );
  // Column names are resolved through pg_attribute in key order; only the key columns count
  // (indnkeyatts), since INCLUDE columns do not take part in uniqueness.
  const indexes = await client.query<IndexRow>(
    `SELECT t.relname AS table_name, i.relname AS index_name,
            x.indisunique AS is_unique, x.indisprimary AS is_primary,
            x.indpred IS NOT NULL AS has_predicate, pg_get_expr(x.indpred, x.indrelid) AS predicate, x.indexprs IS NOT NULL AS has_expressions,
            array(SELECT a.attname::text
                    FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
                   WHERE k.ord <= x.indnkeyatts
                   ORDER BY k.ord) AS columns
       FROM pg_index x
       JOIN pg_class t ON t.oid = x.indrelid
       JOIN pg_class i ON i.oid = x.indexrelid
      WHERE t.relnamespace = current_schema()::regnamespace AND t.relkind = 'r'`,
  );
  const foreignKeys = await client.query<ForeignKeyRow>(
    `SELECT c.conname AS constraint_name, t.relname AS table_name, r.relname AS referenced_table,
            array(SELECT a.attname::text
                    FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
                   ORDER BY k.ord) AS columns,
            array(SELECT a.attname::text
                    FROM unnest(c.confkey) WITH ORDINALITY AS k(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum
                   ORDER BY k.ord) AS referenced_columns,
            c.confdeltype::text AS on_delete, c.confupdtype::text AS on_update
       FROM pg_constraint c
       JOIN pg_class t ON t.oid = c.conrelid
       JOIN pg_class r ON r.oid = c.confrelid
      WHERE c.contype = 'f' AND t.relnamespace = current_schema()::regnamespace`,
  );
  const enums = await client.query<EnumRow>(
    `SELECT t.typname::text AS name, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels
       FROM pg_type t
       JOIN pg_enum e ON e.enumtypid = t.oid
      WHERE t.typnamespace = current_schema()::regnamespace
      GROUP BY t.typname`,
  );

  const byTable = new Map<string, Map<string, ColumnRow>>();
  for (const column of columns.rows) {
    if (IGNORED_TABLES.has(column.table_name)) continue;
    const table = byTable.get(column.table_name) ?? new Map<string, ColumnRow>();
    table.set(column.column_name, column);
    byTable.set(column.table_name, table);
  }
  return {
    tables: new Set(tables.rows.map((row) => row.table_name).filter((name) => !IGNORED_TABLES.has(name))),
    columns: byTable,
    indexes: indexes.rows.filter((row) => !IGNORED_TABLES.has(row.table_name)),
    foreignKeys: foreignKeys.rows,
    enums: new Map(enums.rows.map((row) => [row.name, row.labels])),
  };
}

/** A column's type in words, e.g. `timestamp with time zone(3)` or `enum "TaskStatus"`. */
function describeColumnType(column: ColumnRow): string {
  switch (column.data_type) {
    case 'USER-DEFINED':
      return `enum "${column.udt_name}"`;
    case 'ARRAY':
      return `array of ${column.udt_name.replace(/^_/, '')}`;
    case 'timestamp with time zone':
    case 'timestamp without time zone':
    case 'time with time zone':
    case 'time without time zone':
      return `${column.data_type}(${column.datetime_precision})`;
    case 'character varying':
    case 'character':
      return column.character_maximum_length === null
        ? column.data_type
        : `${column.data_type}(${column.character_maximum_length})`;
    case 'numeric':
      return column.numeric_precision === null
        ? 'numeric'
        : `numeric(${column.numeric_precision},${column.numeric_scale})`;
    default:
      return column.data_type;
  }
}

// ---------------------------------------------------------------------------------------------
// The schema side
// ---------------------------------------------------------------------------------------------

const tableOf = (model: Model): string => model.dbName ?? model.name;
const columnOf = (field: Field): string => field.dbName ?? field.name;
const enumTypeOf = (schemaEnum: SchemaEnum): string => schemaEnum.dbName ?? schemaEnum.name;

/** `Model.field ("table"."column")`: both names, since a failure is fixed in either file. */
function label(model: Model, field: Field): string {
  return `${model.name}.${field.name} ("${tableOf(model)}"."${columnOf(field)}")`;
}

function columnsOf(model: Model, fieldNames: readonly string[]): string[] {
  return fieldNames.map((name) => {
    const field = model.fields.find((candidate) => candidate.name === name);
    if (!field) throw new Error(`${model.name} has no field ${name}`);
    return columnOf(field);
  });
}

/**
 * The PostgreSQL type Prisma's migrate would create for a field, in the words of
 * describeColumnType, or an `unsupported` note for types this check has not been taught yet
 * (so a new kind of field fails loudly instead of passing unchecked).
 */
function expectedColumnType(field: Field, enums: ReadonlyMap<string, SchemaEnum>): string | { unsupported: string } {
  if (field.isList) return { unsupported: 'list fields' };
  if (field.kind === 'enum') {
    const schemaEnum = enums.get(field.type);
    return `enum "${schemaEnum ? enumTypeOf(schemaEnum) : field.type}"`;
  }
  const [nativeName, nativeArgs = []] = field.nativeType ?? [];
  const precision = (fallback: number): string => nativeArgs[0] ?? String(fallback);
  switch (`${field.type}:${nativeName ?? ''}`) {
    case 'String:':
    case 'String:Text':
      return 'text';
    case 'String:Uuid':
      return 'uuid';
    case 'String:VarChar':
      return nativeArgs[0] === undefined ? 'character varying' : `character varying(${nativeArgs[0]})`;
    case 'String:Char':
      return `character(${nativeArgs[0] ?? 1})`;
    case 'Int:':
    case 'Int:Integer':
      return 'integer';
    case 'Int:SmallInt':
      return 'smallint';
    case 'BigInt:':
    case 'BigInt:BigInt':
      return 'bigint';
    case 'Boolean:':
    case 'Boolean:Boolean':
      return 'boolean';
    case 'Float:':
    case 'Float:DoublePrecision':
      return 'double precision';
    case 'Float:Real':
      return 'real';
    case 'Decimal:':
      return 'numeric(65,30)';
    case 'Decimal:Decimal':
      return nativeArgs.length === 2 ? `numeric(${nativeArgs[0]},${nativeArgs[1]})` : 'numeric';
    case 'Json:':
    case 'Json:JsonB':
      return 'jsonb';
    case 'Json:Json':
      return 'json';
    case 'Bytes:':
    case 'Bytes:ByteA':
      return 'bytea';
    // Prisma's DateTime defaults to millisecond precision, without a time zone.
    case 'DateTime:':
      return 'timestamp without time zone(3)';
    case 'DateTime:Timestamp':
      return `timestamp without time zone(${precision(6)})`;
    case 'DateTime:Timestamptz':
      return `timestamp with time zone(${precision(6)})`;
    case 'DateTime:Date':
      return 'date';
    default:
      return { unsupported: `type ${field.type}${nativeName ? ` @db.${nativeName}(${nativeArgs.join(', ')})` : ''}` };
  }
}

/** Defaults Prisma computes in the client: they never reach the database. */
const CLIENT_SIDE_DEFAULTS = new Set(['uuid', 'cuid', 'nanoid', 'ulid']);

/** SQL string literal body: single quotes doubled, as PostgreSQL prints it back. */
const sqlString = (value: string): string => `'${value.replaceAll("'", "''")}'`;

/**
 * What the database default must look like for a field: null when there must be none, otherwise
 * a predicate over information_schema's column_default (PostgreSQL's own rendering of it) and
 * its description. Unknown default kinds only require that some default exists.
 */
function expectedDefault(field: Field): { description: string; matches: (actual: string) => boolean } | null {
  if (!field.hasDefaultValue) return null;
  const value = field.default;
  if (value === undefined || value === null) return null;
  if (typeof value === 'boolean') return { description: String(value), matches: (actual) => actual === String(value) };
  if (typeof value === 'number') {
    // Negative numbers come back quoted and cast, e.g. '-1'::integer.
    return {
      description: String(value),
      matches: (actual) => actual === String(value) || actual.startsWith(`'${value}'::`),
    };
  }
  if (typeof value === 'string') {
    // Enum values, strings and JSON literals all come back as a quoted literal with a cast.
    return { description: sqlString(value), matches: (actual) => actual.startsWith(`${sqlString(value)}::`) };
  }
  // Array.isArray does not narrow readonly arrays, so tell a generator call apart by its name.
  if (!('name' in value)) return { description: 'a list default', matches: () => true };
  const generator = value;
  if (CLIENT_SIDE_DEFAULTS.has(generator.name)) return null;
  switch (generator.name) {
    case 'now':
      // Prisma writes CURRENT_TIMESTAMP; now() is the same function by another name.
      return { description: 'CURRENT_TIMESTAMP', matches: (actual) => actual === 'CURRENT_TIMESTAMP' || actual === 'now()' };
    case 'autoincrement':
      return { description: 'a sequence (nextval)', matches: (actual) => actual.startsWith('nextval(') };
    case 'dbgenerated': {
      const expression = generator.args[0];
      return typeof expression === 'string'
        ? { description: expression, matches: (actual) => actual === expression }
        : { description: 'a database default', matches: () => true };
    }
    default:
      return { description: `${generator.name}()`, matches: () => true };
  }
}

/** Prisma's referential actions as pg_constraint codes. */
const REFERENTIAL_ACTION_CODES: Record<string, string> = {
  NoAction: 'a',
  Restrict: 'r',
  Cascade: 'c',
  SetNull: 'n',
  SetDefault: 'd',
};
const REFERENTIAL_ACTION_WORDS: Record<string, string> = {
  a: 'NO ACTION',
  r: 'RESTRICT',
  c: 'CASCADE',
  n: 'SET NULL',
  d: 'SET DEFAULT',
};

// ---------------------------------------------------------------------------------------------
// The comparison
// ---------------------------------------------------------------------------------------------

const columnList = (columns: readonly string[]): string => `(${columns.join(', ')})`;
/** Unique constraints are compared as column sets: (a, b) and (b, a) enforce the same thing. */
const columnSetKey = (table: string, columns: readonly string[]): string => `${table}${columnList([...columns].sort())}`;

/**
 * The predicate of a field's `@unique(where: ...)`, as SQL: `{ field: { not: null } }` is
 * `(column IS NOT NULL)`, `raw("...")` is its text. null for any other form.
 */
function partialUniquePredicate(schemaText: string, modelName: string, field: Field): string | null {
  const block = new RegExp(`\\bmodel\\s+${modelName}\\s*\\{([\\s\\S]*?)\\n\\}`).exec(schemaText)?.[1] ?? '';
  const line = block.split('\n').find((candidate) => new RegExp(`^\\s*${field.name}\\s`).test(candidate)) ?? '';
  const notNull = new RegExp(`@unique\\(\\s*where:\\s*\\{\\s*${field.name}:\\s*\\{\\s*not:\\s*null\\s*\\}\\s*\\}`).test(line);
  if (notNull) return `(${columnOf(field)} IS NOT NULL)`;
  return /@unique\(\s*where:\s*raw\("((?:[^"\\]|\\.)*)"\)/.exec(line)?.[1]?.replace(/\\"/g, '"') ?? null;
}

/** Predicates compared as PostgreSQL prints them, give or take quotes, spacing and outer parentheses. */
function normalizedPredicate(sql: string): string {
  let text = sql.replace(/"/g, '').replace(/\s+/g, ' ').trim();
  while (text.startsWith('(') && text.endsWith(')')) text = text.slice(1, -1).trim();
  return text;
}

/**
 * Every difference between the Prisma schema text and the database `client` is connected to,
 * one sentence each, sorted; empty when they agree.
 */
export async function schemaDrift(client: pg.ClientBase, schemaText: string): Promise<string[]> {
  const { datamodel } = await internals.getDMMF({ datamodel: schemaText });
  const database = await readDatabase(client);
  const differences: string[] = [];
  const enums = new Map(datamodel.enums.map((schemaEnum) => [schemaEnum.name, schemaEnum]));

  // Enum types and their labels, in order: PostgreSQL sorts enum values by declaration order.
  for (const schemaEnum of datamodel.enums) {
    const typeName = enumTypeOf(schemaEnum);
    const expected = schemaEnum.values.map((value) => value.dbName ?? value.name);
    const actual = database.enums.get(typeName);
    if (!actual) differences.push(`enum ${schemaEnum.name}: type "${typeName}" is missing from the database`);
    else if (actual.join(',') !== expected.join(','))
      differences.push(`enum ${schemaEnum.name}: labels are [${expected.join(', ')}] in the schema but [${actual.join(', ')}] in the database`);
  }
  const knownEnumTypes = new Set(datamodel.enums.map(enumTypeOf));
  for (const typeName of database.enums.keys()) {
    if (!knownEnumTypes.has(typeName)) differences.push(`enum type "${typeName}" is in the database but not in the schema`);
  }

  // Tables and columns.
  const knownTables = new Set(datamodel.models.map(tableOf));
  for (const table of database.tables) {
    if (!knownTables.has(table)) differences.push(`table "${table}" is in the database but not in the schema`);
  }
  for (const model of datamodel.models) {
    const table = tableOf(model);
    if (!database.tables.has(table)) {
      differences.push(`${model.name}: table "${table}" is missing from the database`);
      continue;
    }
    const columns = database.columns.get(table) ?? new Map<string, ColumnRow>();
    const storedFields = model.fields.filter((field) => field.kind !== 'object');
    const knownColumns = new Set(storedFields.map(columnOf));
    for (const column of columns.values()) {
      if (!knownColumns.has(column.column_name))
        differences.push(`table "${table}": column "${column.column_name}" (${describeColumnType(column)}) is in the database but not in the schema`);
    }
    for (const field of storedFields) {
      const column = columns.get(columnOf(field));
      if (!column) {
        differences.push(`${label(model, field)}: column is missing from the database`);
        continue;
      }
      const expectedType = expectedColumnType(field, enums);
      const actualType = describeColumnType(column);
      if (typeof expectedType !== 'string')
        differences.push(`${label(model, field)}: ${expectedType.unsupported} are not checked yet; teach tests/helpers/schema-drift.ts (database has ${actualType})`);
      else if (expectedType !== actualType)
        differences.push(`${label(model, field)}: type is ${expectedType} in the schema but ${actualType} in the database`);

      const nullable = column.is_nullable === 'YES';
      if (field.isRequired && nullable) differences.push(`${label(model, field)}: required in the schema but nullable in the database`);
      if (!field.isRequired && !nullable) differences.push(`${label(model, field)}: optional in the schema but NOT NULL in the database`);

      const wanted = expectedDefault(field);
      const actualDefault = column.column_default;
      if (wanted === null && actualDefault !== null)
        differences.push(`${label(model, field)}: no database default in the schema but DEFAULT ${actualDefault} in the database`);
      else if (wanted !== null && actualDefault === null)
        differences.push(`${label(model, field)}: default ${wanted.description} in the schema but none in the database`);
      else if (wanted !== null && actualDefault !== null && !wanted.matches(actualDefault))
        differences.push(`${label(model, field)}: default ${wanted.description} in the schema but ${actualDefault} in the database`);
    }
  }

  // Primary keys, column order included (it is the order of the index).
  for (const model of datamodel.models) {
    const table = tableOf(model);
    if (!database.tables.has(table)) continue;
    const expected = model.primaryKey
      ? columnsOf(model, model.primaryKey.fields)
      : model.fields.filter((field) => field.isId).map(columnOf);
    const actual = database.indexes.find((index) => index.table_name === table && index.is_primary)?.columns ?? [];
    if (columnList(expected) !== columnList(actual))
      differences.push(`${model.name}: primary key is ${columnList(expected)} in the schema but ${actual.length ? columnList(actual) : 'absent'} in the database`);
  }

  // Unique constraints (Prisma creates them as unique indexes), both directions.
  const expectedUniques = new Map<string, string>();
  for (const model of datamodel.models) {
    const table = tableOf(model);
    const sets = [
      ...model.fields.filter((field) => field.isUnique).map((field) => [columnOf(field)]),
      ...model.uniqueIndexes.map((unique) => columnsOf(model, unique.fields)),
    ];
    for (const columns of sets) expectedUniques.set(columnSetKey(table, columns), `${model.name}: unique ${columnList(columns)}`);
  }
  // A unique index with `where:` is in datamodel.indexes but on no field's isUnique nor in uniqueIndexes.
  const partialShapes = new Map<string, { description: string; name: string; predicate: string | null }>();
  for (const index of datamodel.indexes) {
    if (index.type !== 'unique') continue;
    const model = datamodel.models.find((candidate) => candidate.name === index.model);
    if (!model) continue;
    const columns = columnsOf(model, index.fields.map((field) => field.name));
    const key = columnSetKey(tableOf(model), columns);
    if (expectedUniques.has(key)) continue;
    const description = `${model.name}: partial unique ${columnList(columns)}`;
    const field = index.fields.length === 1 ? model.fields.find((candidate) => candidate.name === index.fields[0]?.name) : undefined;
    const predicate = index.isDefinedOnField && field ? partialUniquePredicate(schemaText, model.name, field) : null;
    if (predicate === null) differences.push(`${description}: its predicate is in a form this check cannot read`);
    partialShapes.set(key, { description, name: index.dbName ?? `${tableOf(model)}_${columns.join('_')}_key`, predicate });
  }
  const compareUniques = (expected: Map<string, string>, partial: boolean) => {
    const kind = partial ? 'partial unique index' : 'unique index';
    const actual = new Map<string, IndexRow>();
    for (const index of database.indexes) {
      if (index.is_unique && !index.is_primary && !index.has_expressions && index.has_predicate === partial)
        actual.set(columnSetKey(index.table_name, index.columns), index);
    }
    for (const [key, description] of expected) {
      if (!actual.has(key)) differences.push(`${description} is missing from the database`);
    }
    for (const [key, index] of actual) {
      if (!expected.has(key))
        differences.push(`table "${index.table_name}": ${kind} "${index.index_name}" ${columnList(index.columns)} is in the database but not in the schema`);
      const shape = partial ? partialShapes.get(key) : undefined;
      if (shape && shape.name !== index.index_name) differences.push(`${shape.description}: named "${shape.name}" in the schema but "${index.index_name}" in the database`);
      if (shape?.predicate && normalizedPredicate(shape.predicate) !== normalizedPredicate(index.predicate ?? ''))
        differences.push(`${shape.description}: WHERE ${shape.predicate} in the schema but WHERE ${index.predicate} in the database`);
    }
  };
  compareUniques(expectedUniques, false);
  compareUniques(new Map([...partialShapes].map(([key, shape]) => [key, shape.description])), true);

  // Plain @@index, both directions; column order matters for a b-tree, so it is compared as is.
  const expectedIndexes = new Map<string, string>();
  for (const index of datamodel.indexes) {
    if (index.type !== 'normal') continue;
    const model = datamodel.models.find((candidate) => candidate.name === index.model);
    if (!model) continue;
    const columns = columnsOf(model, index.fields.map((field) => field.name));
    expectedIndexes.set(`${tableOf(model)}${columnList(columns)}`, `${model.name}: index ${columnList(columns)}`);
  }
  const actualIndexes = new Map<string, IndexRow>();
  for (const index of database.indexes) {
    if (!index.is_unique && !index.is_primary && !index.has_predicate && !index.has_expressions)
      actualIndexes.set(`${index.table_name}${columnList(index.columns)}`, index);
  }
  for (const [key, description] of expectedIndexes) {
    if (!actualIndexes.has(key)) differences.push(`${description} is missing from the database`);
  }
  for (const [key, index] of actualIndexes) {
    if (!expectedIndexes.has(key))
      differences.push(`table "${index.table_name}": index "${index.index_name}" ${columnList(index.columns)} is in the database but not in the schema`);
  }

  // Foreign keys, matched by their own columns, then compared on target and actions.
  const modelsByName = new Map(datamodel.models.map((model) => [model.name, model]));
  const actualForeignKeys = new Map(
    database.foreignKeys.map((key) => [`${key.table_name}${columnList(key.columns)}`, key]),
  );
  const expectedForeignKeys = new Set<string>();
  for (const model of datamodel.models) {
    for (const field of model.fields) {
      if (field.kind !== 'object' || !field.relationFromFields?.length) continue;
      const target = modelsByName.get(field.type);
      if (!target) continue;
      const table = tableOf(model);
      const columns = columnsOf(model, field.relationFromFields);
      const key = `${table}${columnList(columns)}`;
      expectedForeignKeys.add(key);
      const where = `${model.name}.${field.name} (foreign key "${table}"${columnList(columns)})`;
      const actual = actualForeignKeys.get(key);
      if (!actual) {
        differences.push(`${where}: missing from the database`);
        continue;
      }
      const expectedTarget = `"${tableOf(target)}"${columnList(columnsOf(target, field.relationToFields ?? []))}`;
      const actualTarget = `"${actual.referenced_table}"${columnList(actual.referenced_columns)}`;
      if (expectedTarget !== actualTarget)
        differences.push(`${where}: references ${expectedTarget} in the schema but ${actualTarget} in the database`);
      // Prisma's defaults when the schema names no action: Restrict (required) or SetNull
      // (optional) on delete, Cascade on update.
      const onDelete = field.relationOnDelete ?? (field.isRequired ? 'Restrict' : 'SetNull');
      const onUpdate = field.relationOnUpdate ?? 'Cascade';
      for (const [clause, action, code] of [
        ['ON DELETE', onDelete, actual.on_delete],
        ['ON UPDATE', onUpdate, actual.on_update],
      ] as const) {
        const expectedCode = REFERENTIAL_ACTION_CODES[action];
        if (expectedCode !== code)
          differences.push(`${where}: ${clause} ${REFERENTIAL_ACTION_WORDS[expectedCode ?? ''] ?? action} in the schema but ${REFERENTIAL_ACTION_WORDS[code] ?? code} in the database`);
      }
    }
  }
  for (const [key, foreignKey] of actualForeignKeys) {
    if (!expectedForeignKeys.has(key))
      differences.push(`foreign key "${foreignKey.constraint_name}" on "${foreignKey.table_name}"${columnList(foreignKey.columns)} is in the database but not in the schema`);
  }

  return differences.sort();
}
