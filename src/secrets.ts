/** Every secret value one run can see, in one list: what the redactors and the masks are built from. */
import type { SecretValues } from './model.js'
import type { Runbook } from './runbook/schema.js'
import { urlPassword } from './util/redact.js'

/** The secret inputs, the variables the runbook names, and the passwords inside URLs. */
export function runSecrets(
  runbook: Runbook,
  env: Readonly<Record<string, string | undefined>>,
  secrets: SecretValues
): string[] {
  const named = [
    runbook.hosting?.['token-env'],
    runbook.database?.['url-env'],
    runbook.notify?.['webhook-env']
  ].flatMap(name => (name ? [env[name]] : []))
  const values = [...Object.values(secrets), ...named].filter(
    (v): v is string => typeof v === 'string' && v.length > 0
  )
  return [...values, ...values.flatMap(v => urlPassword(v) ?? [])]
}
