/**
 * What a credential looks like, as a value (a token, a URL with a password) or as a name (a
 * variable such as AWS_SECRET_ACCESS_KEY). Used to refuse pasted secrets and to never echo one,
 * even where it was typed as a key or a flag name.
 */
const CREDENTIAL_VALUES: [RegExp, string][] = [
  [/\b(ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}/, 'a GitHub token'],
  [/\bgithub_pat_[A-Za-z0-9_]{20,}/, 'a GitHub token'],
  [/\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]+:(?!\*\*\*@)[^@\s]+@/i, 'a URL with a password'],
  [/\bxox[abposr]-[A-Za-z0-9-]{10,}/, 'a Slack token'],
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'a private key'],
  [/\b(AKIA|ASIA)[0-9A-Z]{16}\b/, 'an AWS access key'],
  [/\bsk_(live|test)_[A-Za-z0-9]{16,}/, 'a Stripe secret key'],
  [/\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/, 'a JSON Web Token']
]

/** What kind of credential `text` contains, if it looks like one. */
export function credentialKind(text: string): string | undefined {
  return CREDENTIAL_VALUES.find(([pattern]) => pattern.test(text))?.[1]
}

const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/)([^:/@\s]+):([^@\s]+)@/gi

/**
 * `text` with every part that looks like a credential replaced by `***` (a URL keeps its user and
 * host, only its password is hidden).
 */
export function hideCredentials(text: string): string {
  let out = text.replace(URL_PASSWORD, '$1$2:***@')
  for (const [pattern] of CREDENTIAL_VALUES) {
    out = out.replace(new RegExp(pattern.source, `${pattern.flags}g`), '***')
  }
  return out
}

/** Words that make a variable or flag name a credential's name (split on _ and -). */
const SECRET_WORDS =
  /(^|[_-])(TOKEN|SECRETS?|PASSWORD|PASSWD|PASSPHRASE|CREDENTIALS?|AUTH|PRIVATE[_-]KEY|API[_-]?KEY|ACCESS[_-]KEY|SIGNING[_-]KEY|SECRET[_-]KEY|CLIENT[_-]SECRET)([_-]|$)/i

/** True for names such as GITHUB_TOKEN, AWS_SECRET_ACCESS_KEY, STRIPE_API_KEY, db-password. */
export function looksLikeCredentialName(name: string): boolean {
  return SECRET_WORDS.test(name)
}

/** Control characters (line breaks included) split log lines and defeat log masking. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
export const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/
