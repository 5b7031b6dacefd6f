/**
 * Every secret value one run can see, in one list: what the redactor and the masks are built
 * from. The variables a runbook names for secrets are the fields its schema marks `x-secret`, so
 * a new secret-bearing field is covered without touching this file.
 */
import type { SecretValues } from './model.js'
import type { Runbook } from './runbook/schema.js'
import { markedFields, valuesAt } from './runbook/schema-fields.js'
import { CONTROL_CHARACTER } from './util/credentials.js'
import { urlPassword } from './util/redact.js'

/** Where each secret input comes from, for messages (never the value). */
const SECRET_INPUT_NAMES: Record<keyof SecretValues, string> = {
  githubToken: 'github-token (GITHUB_TOKEN)',
  pushToken: 'push-token (ROLLBACK_PUSH_TOKEN)',
  hostingToken: 'hosting-token',
  databaseUrl: 'database-url'
}

let secretFields: string[][] | undefined

/** The runbook's fields that name a secret's variable (`x-secret` in the schema). */
export function secretFieldPaths(): string[][] {
  secretFields ??= markedFields<boolean>('x-secret').map(field => field.path)
  return secretFields
}

/** The environment variables this runbook names for secrets (token-env, url-env, ...). */
export function secretVariableNames(runbook: Runbook): string[] {
  const names = secretFieldPaths().flatMap(path =>
    valuesAt(runbook, path).flatMap(({ value }) => (typeof value === 'string' ? [value] : []))
  )
  return [...new Set(names)]
}

export interface SecretSource {
  /** The input or variable it came from, for messages. */
  name: string
  value: string
}

/** The secret inputs and the values of the variables the runbook names. */
export function secretSources(
  runbook: Runbook,
  env: Readonly<Record<string, string | undefined>>,
  secrets: SecretValues
): SecretSource[] {
  const inputs = (Object.keys(SECRET_INPUT_NAMES) as (keyof SecretValues)[]).map(key => ({
    name: SECRET_INPUT_NAMES[key],
    value: secrets[key]
  }))
  const named = secretVariableNames(runbook).map(name => ({ name: `$${name}`, value: env[name] }))
  return [...inputs, ...named].filter(
    (s): s is SecretSource => typeof s.value === 'string' && s.value.length > 0
  )
}

/**
 * A secret with a line break or another control character splits log lines (and with them the
 * runner's masking) and is never a real token: refused, naming where it came from.
 */
export function secretProblems(sources: readonly SecretSource[]): string[] {
  return sources
    .filter(source => CONTROL_CHARACTER.test(source.value))
    .map(
      source =>
        `${source.name}: the value contains a line break or another control character; set it to the bare secret (no trailing newline)`
    )
}

/** The secret inputs, the variables the runbook names, and the passwords inside URLs. */
export function runSecrets(
  runbook: Runbook,
  env: Readonly<Record<string, string | undefined>>,
  secrets: SecretValues
): string[] {
  const values = secretSources(runbook, env, secrets).map(source => source.value)
  return [...values, ...values.flatMap(v => urlPassword(v) ?? [])]
}
