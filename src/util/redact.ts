/**
 * The one redactor every output channel goes through (log lines, errors, report, summary,
 * comments, webhook, issue): known secret values are replaced in every form they travel in
 * (plain, URL-encoded, JSON-escaped, base64 at any alignment, so inside a Basic credential too),
 * URLs lose their passwords, and anything that looks like a credential is hidden even when no
 * one registered it.
 */
import { hideCredentials } from './credentials.js'

export function maskUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    // Not a URL we can parse: hide anything that looks like user:password@.
    return url.replace(/\/\/([^:/@\s]+):[^@\s]+@/g, '//$1:***@')
  }
}

/** The password part of a connection URL, so it can be registered as a secret. */
export function urlPassword(url: string): string | undefined {
  try {
    const password = new URL(url).password
    return password ? decodeURIComponent(password) : undefined
  } catch {
    return undefined
  }
}

/** Very short values would mask ordinary words; nobody uses a 3-character token. */
const MIN_SECRET_LENGTH = 4
/** Base64 fragments shorter than this would match ordinary text. */
const MIN_FRAGMENT_LENGTH = 8

/**
 * The base64 text that `secret` always encodes to, wherever it sits in a longer value: for each
 * of the three byte alignments, the characters that depend on the secret's bytes alone.
 */
function base64Fragments(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8')
  const fragments: string[] = []
  for (const offset of [0, 1, 2]) {
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64')
    const start = Math.ceil((8 * offset) / 6)
    const end = Math.floor((8 * (offset + bytes.length)) / 6)
    const fragment = encoded.slice(start, end)
    if (fragment.length >= MIN_FRAGMENT_LENGTH) {
      fragments.push(fragment, fragment.replace(/\+/g, '-').replace(/\//g, '_'))
    }
  }
  return fragments
}

/** Every form of `secret` that may appear in output. */
export function secretForms(secret: string): string[] {
  const forms = new Set([secret, encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1)])
  for (const fragment of base64Fragments(secret)) forms.add(fragment)
  return [...forms]
}

export class Redactor {
  private readonly secrets = new Set<string>()

  /** Registers a secret; returns the forms now redacted (to mask them elsewhere too). */
  add(secret: string | undefined): string[] {
    if (!secret || secret.length < MIN_SECRET_LENGTH) return []
    const forms = secretForms(secret)
    for (const form of forms) this.secrets.add(form)
    return forms
  }

  redact(text: string): string {
    let out = hideCredentials(text)
    // Longest first: a secret that contains another is replaced whole.
    for (const secret of [...this.secrets].sort((a, b) => b.length - a.length)) {
      out = out.split(secret).join('***')
    }
    return out
  }
}
