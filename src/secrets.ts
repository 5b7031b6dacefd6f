/** Every secret value one run can see, in one list: what the redactors and the masks are built from. */
import type { RunContext, SecretValues } from './model.js'
import type { Runbook } from './runbook/schema.js'
import { Redactor, urlPassword } from './util/redact.js'

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

/** A redactor primed with every secret the run knows about (plus `extra`). */
export function redactorFor(ctx: RunContext, extra: Array<string | undefined> = []): Redactor {
  const redactor = new Redactor()
  for (const secret of [...runSecrets(ctx.runbook, ctx.env, ctx.secrets), ...extra]) {
    redactor.add(secret)
  }
  return redactor
}
