/**
 * Runbook format v1. This zod schema is the source of truth for the TypeScript types and for the
 * published JSON Schema (schema/runbook.schema.json), from which `npm run schema` generates the
 * run-time validator (validate.generated.js); rules across fields are in rules.ts. It is not
 * imported at run time (only its types): building these schemas cost ~40 ms of every start.
 * Secrets never appear as values: the runbook names the environment variables that hold them.
 */
import { z } from 'zod'
import type { ProviderModule, SchemaKit } from '../providers/module.js'
import { PROVIDERS } from '../providers/registry.js'
import { BRANCH_NAME, PHASES } from './constants.js'

export { DEFAULT_SEVERITY_MATRIX, PHASES, SEVERITIES } from './constants.js'
export type { PhaseName, Severity } from './constants.js'

/**
 * A string matching `pattern`. `expected` completes "expected …" in the error message; it travels
 * in the JSON Schema as `x-expected`, where the run-time validator finds it.
 */
function matching(pattern: RegExp, expected: string) {
  return z.string().regex(pattern, expected).meta({ 'x-expected': expected })
}

/**
 * A duration ("500ms", "30s", "5m", "1h") between `min` and `max`: a zero interval would poll
 * without pause and an enormous timeout never ends. The bounds travel in the JSON Schema as
 * `x-duration`, where the run-time check finds them.
 */
function duration(min: string, max: string) {
  return matching(/^\d+(ms|s|m|h)$/, 'a duration such as "500ms", "30s", "5m" or "1h"')
    .meta({ 'x-duration': { min, max } })
    .describe(`Duration: a whole number followed by ms, s, m or h; from ${min} to ${max}.`)
}

const envName = matching(
  /^[A-Z_][A-Z0-9_]*$/,
  'an environment variable NAME (upper case, digits, _)'
).describe('Name of the environment variable that holds the value (never the value itself).')

/**
 * The name of a variable whose value is a secret (token, URL with a password). `x-secret` in the
 * JSON Schema is what masking and redaction are derived from (src/secrets.ts): a new field marked
 * with it is covered without another list to update.
 */
const secretEnvName = envName.meta({ 'x-secret': true })

const sqlIdent = matching(
  /^[a-z_][a-z0-9_$]*(\.[a-z_][a-z0-9_$]*)?$/,
  'a lower-case SQL identifier, optionally schema-qualified (schema.name)'
)

const gitRef = matching(
  BRANCH_NAME,
  'a branch name (letters, digits, . _ / -; no "..", no leading "-" or trailing "/")'
)

const httpUrl = matching(/^https?:\/\/[^\s]+$/, 'an http(s):// URL')

const severityPolicy = z
  .object({
    phases: z.array(z.enum(PHASES)).describe('Phases this severity runs, in runbook order.'),
    mutate: z
      .boolean()
      .default(true)
      .describe('false: investigate only (plan, read-only checks), even for command run.'),
    environment: z
      .string()
      .optional()
      .describe('GitHub Environment (with required reviewers) that the workflow must run in.'),
    description: z.string().optional()
  })
  .strict()

const kit: SchemaKit = { z, envName, secretEnvName, httpUrl, gitRef, matching }

/** One fragment per provider module, told apart by `provider` (registry order). */
type FragmentOf<M> = M extends ProviderModule<infer S> ? S : never
type Fragments<T extends readonly unknown[]> = { -readonly [K in keyof T]: FragmentOf<T[K]> }
const hosting = z
  .discriminatedUnion(
    'provider',
    PROVIDERS.map(p => p.schema(kit)) as unknown as Fragments<typeof PROVIDERS>
  )
  // The generated validator checks only the fragment `provider` names (ajv's discriminator).
  .meta({ type: 'object', discriminator: { propertyName: 'provider' } })
  .describe(
    `Hosting platform whose API flips the flags: ${PROVIDERS.map(p => `${p.name} (${p.capabilities.label})`).join(', ')}.`
  )

const flags = z
  .object({
    set: z
      .record(matching(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name'), z.string())
      .describe('Variables to set, e.g. NEXT_PUBLIC_USE_STREAMING: "false".'),
    targets: z
      .array(z.enum(['production', 'preview', 'development']))
      .min(1)
      .default(['production']),
    redeploy: z
      .boolean()
      .default(true)
      .describe('Redeploy so the new values are built in (NEXT_PUBLIC_* always needs it).'),
    'wait-timeout': duration('10s', '2h').default('15m'),
    instant: z
      .union([
        z.literal(true),
        z
          .object({
            before: matching(
              /^(\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)|[0-9a-fA-F]{7,40})$/,
              'the bad commit (a SHA of 7 to 40 hex digits) or an ISO 8601 time with its zone, such as 2026-12-01T14:00:00Z'
            ).describe(
              'The bad commit (SHA): serve the last production deployment built from a commit before it (git ancestry in the checkout; else the commit time). Or a time: the last one created before it.'
            )
          })
          .strict()
      ])
      .optional()
      .describe(
        'Mitigate first: serve an earlier production deployment again (Instant Rollback / restore), verify it, then make the fix durable. true: the deployment before the live one.'
      )
  })
  .strict()

const httpCheck = z
  .object({
    name: z.string().min(1),
    url: httpUrl,
    'expect-status': z.number().int().min(100).max(599).default(200),
    'expect-text': z.string().optional().describe('Text the response body must contain.'),
    'reject-text': z.string().optional().describe('Text the response body must not contain.'),
    timeout: duration('1s', '1h').default('5m'),
    interval: duration('100ms', '10m').default('10s')
  })
  .strict()

const verify = z
  .object({
    checks: z.array(httpCheck).default([]),
    smoke: z
      .object({
        run: z.string().min(1),
        timeout: duration('1s', '2h').default('5m'),
        env: z
          .array(envName)
          .max(50)
          .default([])
          .describe(
            'Variables of the run environment the command needs (e.g. APP_URL); it sees no others but PATH, HOME, locale, temp directory and proxies.'
          )
      })
      .strict()
      .optional()
      .describe('A shell command that must exit 0 (e.g. an end-to-end smoke test).')
  })
  .strict()

const batchUpdate = z
  .object({
    table: sqlIdent,
    key: sqlIdent.default('id').describe('Integer primary key used to walk the table in ranges.'),
    set: z.record(sqlIdent, z.string()).describe('column: SQL expression.'),
    where: z.string().min(1).describe('Condition, re-checked in every batch.'),
    'batch-size': z.number().int().min(1).max(100000).default(5000),
    pause: duration('0ms', '1m').default('10ms'),
    'max-duration': duration('1s', '24h').default('10m')
  })
  .strict()

/** A cleanup step: a name and exactly one of batch-update, drop-index or sql. */
const databaseStep = z
  .object({
    name: z.string().min(1),
    'batch-update': batchUpdate.optional().describe('A big UPDATE done in primary-key batches.'),
    'drop-index': sqlIdent.optional().describe('Dropped with DROP INDEX CONCURRENTLY IF EXISTS.'),
    sql: z
      .string()
      .min(1)
      .optional()
      .describe('SQL, split and classified by the PostgreSQL parser.'),
    'acknowledge-data-loss': z
      .boolean()
      .optional()
      .describe(
        'true: this sql step destroys data without a backup (TRUNCATE, DROP TABLE, DROP COLUMN ...) and that is intended; run refuses such SQL without it.'
      )
  })
  .strict()

const database = z
  .object({
    'url-env': secretEnvName.default('DATABASE_URL'),
    'lock-timeout': duration('10ms', '1m').default('500ms'),
    'statement-timeout': duration('100ms', '6h').default('5m'),
    'lock-retries': z.number().int().min(0).max(50).default(8),
    steps: z.array(databaseStep).default([])
  })
  .strict()

const git = z
  .object({
    remote: z.string().default('origin'),
    branch: gitRef.default('main'),
    strategy: z.enum(['revert', 'reset']).default('revert'),
    revert: z
      .string()
      .optional()
      .describe('Commits to revert: a range A..B or SHAs separated by spaces or commas.'),
    'reset-to': z.string().optional().describe('Known-good SHA for the reset strategy.'),
    'revert-mode': z.enum(['single', 'per-commit']).default('single'),
    mainline: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe('Parent number for reverting merge commits (usually 1).'),
    'backup-ref-prefix': z.string().default('refs/rollback/backup'),
    drill: z
      .union([
        z
          .object({ last: z.number().int().min(1).max(100) })
          .strict()
          .describe('Revert the last N commits of the branch.'),
        z
          .object({ since: gitRef })
          .strict()
          .describe('Revert every commit of the branch after this tag (or ref).')
      ])
      .optional()
      .describe(
        'What a drill reverts when no commits are given: the drill then exercises git for real, on a scratch ref.'
      )
  })
  .strict()

const schemaRollback = z
  .object({
    table: sqlIdent,
    key: sqlIdent.default('id'),
    'drop-columns': z.array(sqlIdent).default([]),
    'drop-indexes': z.array(sqlIdent).default([]),
    'backup-table': sqlIdent.optional().describe('Where dropped column data is copied first.')
  })
  .strict()

const integrityCheck = z
  .object({
    name: z.string().min(1),
    sql: z.string().min(1),
    expect: z
      .object({
        rows: z.number().int().min(0).optional().describe('Exact number of rows returned.'),
        'max-rows': z.number().int().min(0).optional(),
        value: z
          .union([z.string(), z.number(), z.boolean()])
          .optional()
          .describe('First column of the first row.')
      })
      .strict(),
    when: z
      .array(z.enum(['before', 'after']))
      .min(1)
      .default(['before', 'after']),
    'on-fail': z.enum(['fail', 'warn']).default('fail')
  })
  .strict()

const repoPath = z.string().min(1)

const files = z
  .object({
    protect: z.array(repoPath).default([]).describe('Paths that must exist after rollback.'),
    remove: z.array(repoPath).default([]).describe('Paths removed (in a commit) if present.')
  })
  .strict()

const metric = z
  .object({
    name: z.string().min(1),
    sql: z.string().min(1).describe('Returns one numeric value.'),
    max: z.number().optional(),
    min: z.number().optional()
  })
  .strict()

const monitor = z
  .object({
    duration: duration('1s', '24h').default('5m'),
    interval: duration('1s', '1h').default('30s'),
    health: z.array(httpCheck).default([]),
    metrics: z.array(metric).default([]),
    'max-error-rate': z
      .number()
      .min(0)
      .max(1)
      .default(0.1)
      .describe('Fraction of failed health probes that fails the watch (seed: >10% errors).')
  })
  .strict()

const notify = z
  .object({
    'status-comment': z.boolean().default(true).describe('Comment on the triggering issue/PR.'),
    'incident-issue': z
      .object({ labels: z.array(z.string()).default(['incident', 'rollback']) })
      .strict()
      .optional(),
    'drill-issue': z
      .object({ labels: z.array(z.string()).default(['rollback-drill']) })
      .strict()
      .optional()
      .describe(
        "One tracking issue for this runbook's drills: created once, then a comment and the latest result each drill, reopened when a drill fails."
      ),
    'webhook-env': secretEnvName
      .optional()
      .describe('Variable holding a webhook URL (e.g. Slack).'),
    messages: z
      .object({
        initiated: z.string().default('Rollback initiated'),
        complete: z.string().default('Rollback complete, system stable'),
        failed: z.string().default('Rollback FAILED: manual action needed')
      })
      .strict()
      .default({
        initiated: 'Rollback initiated',
        complete: 'Rollback complete, system stable',
        failed: 'Rollback FAILED: manual action needed'
      })
  })
  .strict()

export const runbookSchema = z
  .object({
    version: z.literal(1).describe('Runbook format version.'),
    name: z.string().min(1).describe('What this runbook rolls back.'),
    description: z.string().optional(),
    severity: z
      .object({
        critical: severityPolicy.optional(),
        high: severityPolicy.optional(),
        medium: severityPolicy.optional(),
        low: severityPolicy.optional()
      })
      .strict()
      .default({})
      .describe('Decision matrix overrides; unspecified severities keep the seed defaults.'),
    hosting: hosting.optional(),
    flags: flags.optional(),
    verify: verify.optional(),
    database: database.optional(),
    git: git.optional(),
    schema: z.array(schemaRollback).optional(),
    integrity: z.array(integrityCheck).optional(),
    files: files.optional(),
    monitor: monitor.optional(),
    notify: notify.optional()
  })
  .strict()

export type Runbook = z.output<typeof runbookSchema>
export type SeverityPolicy = z.output<typeof severityPolicy>
export type HostingConfig = z.output<typeof hosting>
export type FlagsConfig = z.output<typeof flags>
export type HttpCheck = z.output<typeof httpCheck>
export type VerifyConfig = z.output<typeof verify>
export type DatabaseConfig = z.output<typeof database>
export type BatchUpdate = z.output<typeof batchUpdate>
export type DatabaseStep = z.output<typeof databaseStep>
export type GitConfig = z.output<typeof git>
export type SchemaRollback = z.output<typeof schemaRollback>
export type IntegrityCheck = z.output<typeof integrityCheck>
export type FilesConfig = z.output<typeof files>
export type MonitorConfig = z.output<typeof monitor>
export type NotifyConfig = z.output<typeof notify>
