import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * Schema-first clients and the tests type their operations from the committed schema.graphql
 * (printed by `npm run generate:schema`). The client preset turns every `graphql(...)` document in
 * tests/ into a typed document node in tests/gql/.
 */
const config: CodegenConfig = {
  schema: 'schema.graphql',
  ignoreNoDocuments: true,
  // NodeNext ESM needs explicit .js extensions in the generated imports.
  emitLegacyCommonJSImports: false,
  generates: {
    'tests/gql/': {
      documents: ['tests/**/*.ts', '!tests/gql/**'],
      preset: 'client',
      config: {
        scalars: { DateTime: 'string' },
        enumsAsTypes: true,
        useTypeImports: true,
      },
      presetConfig: { fragmentMasking: false },
    },
    // The dashboard's operations (all in src/web/client/operations.ts) as typed strings: the browser bundle sends them as
    // they are, without the graphql library's parser and printer.
    'src/web/gql/': {
      documents: ['src/web/client/operations.ts'],
      preset: 'client',
      config: {
        scalars: { DateTime: 'string' },
        enumsAsTypes: true,
        useTypeImports: true,
        documentMode: 'string',
      },
      presetConfig: { fragmentMasking: false },
    },
  },
};

export default config;
