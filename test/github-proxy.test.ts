/**
 * The proxy choice from typed settings agrees with @actions/http-client's, which reads the same
 * variables from process.env: generated hosts, ports, schemes and NO_PROXY lists.
 */
import { afterEach, describe, expect, it } from '@jest/globals'
import { getProxyUrl } from '@actions/http-client/lib/proxy'
import fc from 'fast-check'
import { proxyFor, proxySettingsFrom } from '../src/github/proxy.js'

const VARS = ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'no_proxy', 'NO_PROXY']
const saved = Object.fromEntries(VARS.map(v => [v, process.env[v]]))
afterEach(() => {
  for (const v of VARS) {
    if (saved[v] === undefined) delete process.env[v]
    else process.env[v] = saved[v]
  }
})

const label = fc.constantFrom('api', 'github', 'ghe', 'corp', 'example', 'internal')
const host = fc.oneof(
  fc.array(label, { minLength: 1, maxLength: 3 }).map(parts => parts.join('.')),
  fc.constantFrom('localhost', '127.0.0.1', '0.0.0.0', '10.1.2.3')
)
const target = fc.record({
  scheme: fc.constantFrom('http', 'https'),
  host,
  port: fc.option(fc.constantFrom(80, 443, 8080), { nil: undefined })
})
const entry = fc.oneof(
  host,
  host.map(h => `.${h}`),
  fc.tuple(host, fc.constantFrom(80, 443, 8080)).map(([h, p]) => `${h}:${p}`),
  fc.constant('*')
)
const env = fc.record(
  {
    HTTP_PROXY: fc.constantFrom('http://proxy.corp:3128', 'proxy.corp:3128', ''),
    https_proxy: fc.constantFrom('http://user:p%40ss@proxy.corp:3129', ''),
    HTTPS_PROXY: fc.constantFrom('http://other.corp:3128', ''),
    NO_PROXY: fc.array(entry, { maxLength: 4 }).map(list => list.join(', '))
  },
  { requiredKeys: [] }
)

describe('proxyFor', () => {
  it('chooses what @actions/http-client chooses for the same environment', () => {
    fc.assert(
      fc.property(target, env, (t, vars) => {
        for (const v of VARS) delete process.env[v]
        Object.assign(process.env, vars)
        const url = new URL(`${t.scheme}://${t.host}${t.port ? `:${t.port}` : ''}/repos`)
        const theirs = getProxyUrl(url)
        const ours = proxyFor(url, proxySettingsFrom(vars))
        expect(ours?.href).toBe(theirs?.hostname ? theirs.href : undefined)
      }),
      { numRuns: 500 }
    )
  })

  it('reads the lower-case variables first, as http-client does', () => {
    expect(
      proxySettingsFrom({ https_proxy: 'http://a:1', HTTPS_PROXY: 'http://b:2', NO_PROXY: 'x' })
    ).toEqual({ httpsProxy: 'http://a:1', httpProxy: undefined, noProxy: 'x' })
  })
})
