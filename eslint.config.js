import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'node_modules/',
      'coverage/',
      'src/runbook/validate.generated.js',
      'src/runbook/validate.generated.d.ts'
    ]
  },
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
    // Only the entry points (and runner/, the action entry's side of @actions/core) may read the
    // process environment or Actions inputs.
    files: ['src/**/*.ts'],
    ignores: ['src/index.ts', 'src/main.ts', 'src/cli.ts', 'src/runner/*.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        {
          object: 'process',
          property: 'env',
          message: 'Only src/main.ts and src/cli.ts read process.env; pass typed arguments.'
        }
      ],
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: '@actions/core',
              message: 'Only the action entry (src/main.ts, src/runner/) speaks to the runner.'
            },
            {
              name: '@actions/github',
              message: 'Make an Octokit with src/github/octokit.ts (typed options, loaded lazily).'
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
    // The one place that builds an Octokit.
    files: ['src/github/octokit.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': 'off' }
  },
  {
    // The schema itself is zod (a build-time tool: types, JSON Schema, generated validator).
    files: ['src/runbook/schema.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': 'off' }
  }
)
