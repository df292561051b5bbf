/** Writes the sorted SDL to schema.graphql (committed; tests/schema.test.ts fails when it is stale). */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { printSortedSchema } from '../graphql/schema.js';

const target = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../schema.graphql');
await writeFile(target, `${printSortedSchema()}\n`);
console.log(`wrote ${path.relative(process.cwd(), target)}`);
