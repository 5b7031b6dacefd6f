/**
 * Secrets never live in a runbook: it names the environment variables that hold them. This scan
 * refuses values that look like credentials so a pasted token fails validation instead of being
 * committed, logged and posted; the problem never repeats the value.
 */
import { credentialKind, looksLikeCredentialName } from '../util/credentials.js'
import type { SchemaProblem } from './issues.js'

/** Values (and flag names) that look like credentials. Runs on the validator's tree copy: no cycles. */
export function findSecretValues(data: unknown, path: (string | number)[] = []): SchemaProblem[] {
  if (typeof data === 'string') {
    const what = credentialKind(data)
    if (what === undefined) return []
    return [
      {
        path,
        message: `looks like ${what}: never put secrets in the runbook; store it in a secret and name its environment variable (e.g. token-env, url-env)`
      }
    ]
  }
  if (Array.isArray(data)) return data.flatMap((item, i) => findSecretValues(item, [...path, i]))
  if (!data || typeof data !== 'object') return []
  return Object.entries(data).flatMap(([key, value]) => {
    const here = [...path, key]
    const keyKind = credentialKind(key)
    if (keyKind !== undefined) {
      return [
        { path: here, key, message: `this key looks like ${keyKind}: remove it from the runbook` }
      ]
    }
    if (
      path.length === 2 &&
      path[0] === 'flags' &&
      path[1] === 'set' &&
      looksLikeCredentialName(key)
    ) {
      return [
        {
          path: here,
          key,
          message: `"${key}" looks like a credential: flags only flip non-secret settings; manage secrets on the platform`
        }
      ]
    }
    return findSecretValues(value, here)
  })
}
