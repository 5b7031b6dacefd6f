/**
 * Which proxy a GitHub API request goes through, by the rules of `@actions/http-client` (what
 * `@actions/github` and the runner use), but from typed settings instead of process.env:
 * `https_proxy`/`HTTPS_PROXY` for https URLs, `http_proxy`/`HTTP_PROXY` for http, loopback hosts
 * and `NO_PROXY` entries (a host, host:port, a domain suffix, or `*`) go direct. The reading of
 * the variables is src/http/proxy.ts's, with that convention.
 */
import { ACTIONS_CONVENTION, proxyFor as proxyForConvention } from '../http/proxy.js'
import type { ProxySettings } from '../http/proxy.js'

export { proxySettingsFrom, type ProxySettings } from '../http/proxy.js'

/** The proxy URL for `target`, or undefined to connect directly. */
export function proxyFor(target: URL, settings: ProxySettings): URL | undefined {
  return proxyForConvention(target, settings, ACTIONS_CONVENTION)
}
