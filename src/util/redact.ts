/**
 * Keeps secrets out of every message: URLs lose their passwords, and known secret values are
 * replaced wherever they appear.
 */
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

export class Redactor {
  private readonly secrets = new Set<string>()

  add(secret: string | undefined): void {
    // Very short values would mask ordinary words; nobody uses a 3-character token.
    if (secret && secret.length >= 4) this.secrets.add(secret)
  }

  redact(text: string): string {
    let out = maskUrlsIn(text)
    for (const secret of this.secrets) out = out.split(secret).join('***')
    return out
  }
}

function maskUrlsIn(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)([^:/@\s]+):([^@\s]+)@/gi, '$1$2:***@')
}
