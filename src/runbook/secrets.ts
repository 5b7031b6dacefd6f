/**
 * Secrets never live in a runbook: it names the environment variables that hold them. This scan
 * refuses values that look like credentials so a pasted token fails validation instead of being
 * committed, logged and posted.
 */
import type { SchemaProblem } from './issues.js'

const TOKEN_PATTERNS: [RegExp, string][] = [
  [/\b(ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}/, 'a GitHub token'],
  [/\bgithub_pat_[A-Za-z0-9_]{20,}/, 'a GitHub token'],
  [/\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]+:[^@\s]+@/i, 'a URL with a password'],
  [/\bxox[abposr]-[A-Za-z0-9-]{10,}/, 'a Slack token'],
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'a private key'],
  [/\bAKIA[0-9A-Z]{16}\b/, 'an AWS access key']
]

/** Variable names whose values are credentials: setting them from a runbook would commit them. */
const SECRET_NAME = /(TOKEN|SECRET|PASSWORD|PASSWD|PRIVATE_KEY|API_KEY|CREDENTIALS?)$/i

/** Values (and flag names) that look like credentials. Runs on the validator's tree copy: no cycles. */
export function findSecretValues(data: unknown, path: (string | number)[] = []): SchemaProblem[] {
  if (typeof data === 'string') {
    for (const [pattern, what] of TOKEN_PATTERNS) {
      if (pattern.test(data)) {
        return [
          {
            path,
            message: `looks like ${what}: never put secrets in the runbook; store it in a secret and name its environment variable (e.g. token-env, url-env)`
          }
        ]
      }
    }
    return []
  }
  if (Array.isArray(data)) return data.flatMap((item, i) => findSecretValues(item, [...path, i]))
  if (!data || typeof data !== 'object') return []
  return Object.entries(data).flatMap(([key, value]) => {
    const here = [...path, key]
    if (path.length === 2 && path[0] === 'flags' && path[1] === 'set' && SECRET_NAME.test(key)) {
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
