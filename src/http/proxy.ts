/**
 * Proxy support: the entry point reads HTTPS_PROXY / HTTP_PROXY / NO_PROXY and passes them here as
 * typed settings; `createFetch` returns a fetch that sends each request through undici's
 * ProxyAgent unless NO_PROXY names the host. undici is loaded only when a proxy is configured, so
 * runs without one start no faster or slower than before.
 */
import type { Dispatcher } from 'undici'

export interface ProxySettings {
  /** Proxy for http:// URLs. */
  httpProxy?: string
  /** Proxy for https:// URLs (falls back to httpProxy, as curl does). */
  httpsProxy?: string
  /** Comma/space separated hosts, `.domain` suffixes, `host:port`, or `*`. */
  noProxy?: string
}

/** The settings from an environment snapshot (the entry point passes process.env). */
export function proxySettingsFrom(
  env: Readonly<Record<string, string | undefined>>
): ProxySettings {
  const pick = (name: string) => env[name.toLowerCase()] || env[name] || undefined
  return {
    httpProxy: pick('HTTP_PROXY'),
    httpsProxy: pick('HTTPS_PROXY'),
    noProxy: pick('NO_PROXY')
  }
}

const DEFAULT_PORTS: Record<string, string> = { 'http:': '80', 'https:': '443' }

/** NO_PROXY says `url` goes direct. */
export function bypassesProxy(url: URL, noProxy: string | undefined): boolean {
  if (!noProxy) return false
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase()
  const port = url.port || DEFAULT_PORTS[url.protocol] || ''
  for (const raw of noProxy.split(/[,\s]+/)) {
    const entry = raw.trim().toLowerCase()
    if (!entry) continue
    if (entry === '*') return true
    const match = /^(.*?)(?::(\d+))?$/.exec(entry.replace(/^\[|\](?=:|$)/g, ''))!
    const [name = '', entryPort] = [match[1], match[2]]
    if (entryPort && entryPort !== port) continue
    const bare = name.replace(/^\*?\./, '')
    if (host === bare || host.endsWith(`.${bare}`)) return true
  }
  return false
}

/** The proxy URL for `url`, or undefined when it goes direct. */
export function proxyFor(url: URL, settings: ProxySettings): string | undefined {
  const proxy =
    url.protocol === 'https:' ? (settings.httpsProxy ?? settings.httpProxy) : settings.httpProxy
  if (!proxy || bypassesProxy(url, settings.noProxy)) return undefined
  return proxy
}

/**
 * A fetch honouring `settings`. Without any proxy it is the global fetch. With one, requests go
 * through undici's fetch with a ProxyAgent (one per proxy URL, kept for the process's life).
 */
export function createFetch(settings: ProxySettings = {}): typeof globalThis.fetch {
  if (!settings.httpProxy && !settings.httpsProxy)
    return (input, init) => globalThis.fetch(input, init)
  const agents = new Map<string, Promise<Dispatcher>>()
  const agent = (proxy: string) => {
    let found = agents.get(proxy)
    if (!found) {
      found = import('undici').then(({ ProxyAgent }) => new ProxyAgent({ uri: proxy }))
      agents.set(proxy, found)
    }
    return found
  }
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input))
    const proxy = proxyFor(url, settings)
    if (!proxy) return globalThis.fetch(input, init)
    const [{ fetch }, dispatcher] = await Promise.all([import('undici'), agent(proxy)])
    // undici's own fetch: its Response has the global one's shape.
    const response = await fetch(input as Parameters<typeof fetch>[0], {
      ...(init as Parameters<typeof fetch>[1]),
      dispatcher
    })
    return response as unknown as Response
  }
}
