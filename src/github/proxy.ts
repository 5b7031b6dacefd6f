/**
 * Which proxy a GitHub API request goes through, by the rules of `@actions/http-client` (what
 * `@actions/github` and the runner use), but from typed settings instead of process.env:
 * `https_proxy`/`HTTPS_PROXY` for https URLs, `http_proxy`/`HTTP_PROXY` for http, loopback hosts
 * and `NO_PROXY` entries (a host, host:port, a domain suffix, or `*`) go direct.
 */
export interface ProxySettings {
  httpsProxy?: string
  httpProxy?: string
  noProxy?: string
}

/** The settings an environment names; the lower-case variables win, as in http-client. */
export function proxySettingsFrom(env: Record<string, string | undefined>): ProxySettings {
  return {
    httpsProxy: env.https_proxy || env.HTTPS_PROXY || undefined,
    httpProxy: env.http_proxy || env.HTTP_PROXY || undefined,
    noProxy: env.no_proxy || env.NO_PROXY || undefined
  }
}

function isLoopback(host: string): boolean {
  const h = host.toLowerCase()
  return (
    h === 'localhost' ||
    h.startsWith('127.') ||
    h.startsWith('[::1]') ||
    h.startsWith('[0:0:0:0:0:0:0:1]')
  )
}

function defaultPort(url: URL): number | undefined {
  if (url.port) return Number(url.port)
  if (url.protocol === 'http:') return 80
  if (url.protocol === 'https:') return 443
  return undefined
}

/** True when `target` must not go through a proxy. */
export function bypassesProxy(target: URL, noProxy = ''): boolean {
  if (!target.hostname) return false
  if (isLoopback(target.hostname)) return true
  const host = target.hostname.toUpperCase()
  const port = defaultPort(target)
  const names = port === undefined ? [host] : [host, `${host}:${port}`]
  const entries = noProxy
    .split(',')
    .map(x => x.trim().toUpperCase())
    .filter(Boolean)
  return entries.some(
    entry =>
      entry === '*' ||
      names.some(
        n => n === entry || n.endsWith(`.${entry}`) || (entry.startsWith('.') && n.endsWith(entry))
      )
  )
}

/** A proxy variable's URL; http-client reads a bare host:port as an http proxy. */
function parseProxy(value: string): URL | undefined {
  const candidates = /^https?:\/\//.test(value) ? [value] : [value, `http://${value}`]
  for (const candidate of candidates) {
    try {
      return new URL(candidate)
    } catch {
      // try the next reading
    }
  }
  return undefined
}

/** The proxy URL for `target`, or undefined to connect directly. */
export function proxyFor(target: URL, settings: ProxySettings): URL | undefined {
  if (bypassesProxy(target, settings.noProxy)) return undefined
  const value = target.protocol === 'https:' ? settings.httpsProxy : settings.httpProxy
  const proxy = value ? parseProxy(value) : undefined
  return proxy?.hostname ? proxy : undefined
}
