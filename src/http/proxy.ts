/**
 * Proxy support, for every HTTP client of the run: the entry point reads HTTPS_PROXY / HTTP_PROXY /
 * NO_PROXY and passes them here as typed settings. `createFetch` returns a fetch that sends each
 * request through undici's ProxyAgent unless NO_PROXY names the host (curl's reading); GitHub's
 * client reads the same settings as `@actions/http-client` does (src/github/proxy.ts). undici is
 * loaded only when a proxy is configured, so runs without one start no faster or slower.
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

/**
 * How the proxy variables are read. Two conventions are in use: curl's, for the hosting, verify
 * and webhook requests (`createFetch`), and `@actions/http-client`'s, for GitHub (what
 * `@actions/github` and the runner do: src/github/proxy.ts).
 */
export interface ProxyConvention {
  /** localhost, 127.x and ::1 always go direct. */
  loopbackDirect: boolean
  /** An https URL with no HTTPS_PROXY goes through HTTP_PROXY. */
  httpsFallsBackToHttp: boolean
  /** A `.example.com` (or `*.example.com`) entry also names example.com itself. */
  dotNamesDomain: boolean
  /** What separates NO_PROXY entries. */
  separators: RegExp
  /** A bare `proxy:3128` is an http proxy (curl); http-client reads it as a URL with no host. */
  hostPortIsHttp: boolean
}

export const CURL_CONVENTION: ProxyConvention = {
  loopbackDirect: false,
  httpsFallsBackToHttp: true,
  dotNamesDomain: true,
  separators: /[,\s]+/,
  hostPortIsHttp: true
}

export const ACTIONS_CONVENTION: ProxyConvention = {
  loopbackDirect: true,
  httpsFallsBackToHttp: false,
  dotNamesDomain: false,
  separators: /,/,
  hostPortIsHttp: false
}

const DEFAULT_PORTS: Record<string, string> = { 'http:': '80', 'https:': '443' }

function isLoopback(hostname: string): boolean {
  const h = hostname.toLowerCase()
  return h === 'localhost' || h.startsWith('127.') || h === '[::1]' || h === '[0:0:0:0:0:0:0:1]'
}

/** Whether one NO_PROXY entry (`host`, `host:port`, `.domain`, `*`) names `host` at `port`. */
function entryNames(raw: string, host: string, port: string, convention: ProxyConvention) {
  const entry = raw.trim().toLowerCase()
  if (entry === '*') return true
  const match = /^(.*?)(?::(\d+))?$/.exec(entry.replace(/^\[|\](?=:|$)/g, ''))!
  const [name = '', entryPort] = [match[1], match[2]]
  if (!name || (entryPort && entryPort !== port)) return false
  if (!convention.dotNamesDomain && name.startsWith('.')) return host.endsWith(name)
  const domain = convention.dotNamesDomain ? name.replace(/^\*?\./, '') : name
  return host === domain || host.endsWith(`.${domain}`)
}

/** NO_PROXY (or the convention: a loopback host) says `url` goes direct. */
export function bypassesProxy(
  url: URL,
  noProxy: string | undefined,
  convention: ProxyConvention = CURL_CONVENTION
): boolean {
  if (!url.hostname) return false
  if (convention.loopbackDirect && isLoopback(url.hostname)) return true
  if (!noProxy) return false
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase()
  const port = url.port || DEFAULT_PORTS[url.protocol] || ''
  return noProxy.split(convention.separators).some(e => entryNames(e, host, port, convention))
}

/** A proxy variable's URL (one with no host: no proxy). */
function parseProxy(value: string, convention: ProxyConvention): URL | undefined {
  const schemeless = !/^https?:\/\//.test(value)
  const readings = schemeless && convention.hostPortIsHttp ? [`http://${value}`] : [value]
  // What a URL parser refuses is read as a bare host, as http-client does.
  if (schemeless) readings.push(`http://${value}`)
  for (const reading of readings) {
    try {
      const url = new URL(reading)
      return url.hostname ? url : undefined
    } catch {
      // try the next reading
    }
  }
  return undefined
}

/** The proxy for `url`, or undefined when it goes direct. */
export function proxyFor(
  url: URL,
  settings: ProxySettings,
  convention: ProxyConvention = CURL_CONVENTION
): URL | undefined {
  if (bypassesProxy(url, settings.noProxy, convention)) return undefined
  const fallback = convention.httpsFallsBackToHttp ? settings.httpProxy : undefined
  const value = url.protocol === 'https:' ? (settings.httpsProxy ?? fallback) : settings.httpProxy
  return value ? parseProxy(value, convention) : undefined
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
    const proxy = proxyFor(url, settings)?.href
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
