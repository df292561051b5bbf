/**
 * schema.graphql is committed: schema-first clients and codegen (tests/gql) are typed from it. It
 * must be exactly what the Pothos schema prints, or clients are typed against an API that is not
 * the one served.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { printSortedSchema } from '../src/graphql/schema.js';

const SCHEMA_FILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../schema.graphql');

describe('schema.graphql', () => {
  it('is the schema the server serves (printSortedSchema() and a final newline)', async () => {
    const committed = await readFile(SCHEMA_FILE, 'utf8').catch((error: unknown) => {
      throw new Error(`cannot read ${SCHEMA_FILE} (${String(error)}); run \`npm run generate:schema\` to write it`);
    });
    const printed = `${printSortedSchema()}\n`;
    expect(committed, 'schema.graphql is stale: run `npm run generate:schema` and commit the result').toBe(printed);
  });
});
