import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'src/runbook/validate.generated.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }
      ]
    }
  },
  {
    // Only the entry points may read the process environment or Actions inputs.
    files: ['src/**/*.ts'],
    ignores: ['src/index.ts', 'src/cli.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        {
          object: 'process',
          property: 'env',
          message: 'Only src/index.ts and src/cli.ts read process.env; pass typed arguments.'
        }
      ],
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: '@actions/core',
              message: 'The action speaks to the runner through src/workflow-commands.ts.'
            },
            {
              name: 'zod',
              message: 'zod builds the schema at build time only.',
              allowTypeImports: true
            }
          ],
          patterns: [
            {
              group: ['**/runbook/schema.js'],
              message:
                'Import only types from the zod schema (values are in runbook/constants.ts): building it costs ~40 ms of every start.',
              allowTypeImports: true
            }
          ]
        }
      ]
    }
  },
  {
    // The schema itself is zod (a build-time tool: types, JSON Schema, generated validator).
    files: ['src/runbook/schema.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': 'off' }
  }
)
