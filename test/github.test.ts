import { afterEach, describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  GitHubApiError,
  GitHubClient,
  isPermissionRefusal,
  MAX_ISSUE_PAGES
} from '../src/github/client.js'
import type { ProxySettings } from '../src/github/proxy.js'
import { startGitHubStandin, type GitHubStandin } from './support/github-standin.js'
import { startProxy, type TestProxy } from './support/proxy.js'

/** Waits of a millisecond per second of `retry-after`: the same logic, without the wait. */
const FAST = { secondMs: 1 }

let standin: GitHubStandin | undefined
afterEach(async () => {
  await standin?.close()
  standin = undefined
})

async function setup(token?: (s: GitHubStandin) => string) {
  standin = await startGitHubStandin({ issues: [7], variables: { ROLLBACK_MODE: 'off' } })
  const client = new GitHubClient({
    apiUrl: standin.url,
    token: token ? token(standin) : standin.token,
    owner: standin.owner,
    repo: standin.repo,
    limits: FAST
  })
  return { standin, client }
}

async function apiError(p: Promise<unknown>): Promise<GitHubApiError> {
  try {
    await p
  } catch (err) {
    expect(err).toBeInstanceOf(GitHubApiError)
    return err as GitHubApiError
  }
  throw new Error('expected a rejection')
}

describe('GitHub client against the stand-in', () => {
  it('creates and updates a comment, reacts, creates an issue', async () => {
    const { standin, client } = await setup()
    const c = await client.createComment(7, 'hello')
    await client.updateComment(c.id, 'bye')
    await client.addReaction(c.id, 'eyes')
    const issue = await client.createIssue({
      title: 'Incident',
      body: 'report',
      labels: ['incident']
    })
    expect(standin.comments[0]).toMatchObject({ body: 'bye', reactions: ['eyes'], issueNumber: 7 })
    expect(standin.issues.find(i => i.number === issue.number)).toMatchObject({
      labels: ['incident']
    })
    const r = standin.requests[0]!
    // Octokit sends the token with GitHub's `token` scheme (GitHub accepts it as it does Bearer).
    expect(r.authorization).toBe(`token ${standin.token}`)
    expect(r.headers['x-github-api-version']).toBe('2022-11-28')
  })

  it('answers like GitHub: 401 bad credentials, 404 unknown issue, 422 validation', async () => {
    const bad = await setup(() => 'nope')
    const e401 = await apiError(bad.client.createComment(7, 'x'))
    expect(e401.status).toBe(401)
    expect(e401.message).toMatch(/Bad credentials/)
    await bad.standin.close()
    const { client } = await setup()
    expect((await apiError(client.createComment(99, 'x'))).status).toBe(404)
    const e422 = await apiError(client.createComment(7, ''))
    expect(e422.message).toMatch(/Validation Failed.*body missing_field/)
  })

  it('reads collaborator permission', async () => {
    const { client } = await setup()
    expect(await client.getPermission('octo-admin')).toEqual({
      permission: 'admin',
      user: 'octo-admin'
    })
    expect((await apiError(client.getPermission('stranger'))).status).toBe(404)
  })

  it('GITHUB_TOKEN cannot write variables; a fine-grained token can', async () => {
    const { client } = await setup()
    expect(await client.getVariable('ROLLBACK_MODE')).toMatchObject({ value: 'off' })
    expect(await client.getVariable('MISSING')).toBeUndefined()
    const e = await apiError(client.updateVariable('ROLLBACK_MODE', 'on'))
    expect(e.status).toBe(403)
    expect(e.hint).toMatch(/Variables: write/)
    await standin!.close()
    const pat = await setup(s => s.variablesToken)
    await pat.client.updateVariable('ROLLBACK_MODE', 'on')
    expect(pat.standin.variables.get('ROLLBACK_MODE')?.value).toBe('on')
  })

  it('retries a 5xx of a read or an edit after waiting, then succeeds; never repeats a POST', async () => {
    standin = await startGitHubStandin({ issues: [7] })
    const client = new GitHubClient({
      apiUrl: standin.url,
      token: standin.token,
      owner: standin.owner,
      repo: standin.repo,
      limits: FAST
    })
    const comment = await client.createComment(7, 'first')
    const edits = () => standin!.requestsTo(/\/issues\/comments\/\d+$/, 'PATCH').length
    standin.failNext(/\/issues\/comments\/\d+$/, { status: 502, message: 'Server Error' })
    await client.updateComment(comment.id, 'after a blip')
    expect(edits()).toBe(2)
    expect(standin.comments[0]!.body).toBe('after a blip')
    // A failed POST may have been processed: it is reported, not repeated (no double comment).
    const posts = () => standin!.requestsTo(/\/issues\/7\/comments$/, 'POST').length
    standin.failNext(/\/issues\/7\/comments$/, { status: 502, message: 'Server Error' })
    await expect(client.createComment(7, 'maybe posted')).rejects.toThrow()
    expect(posts()).toBe(2)
  })

  it('can inject 403 Resource not accessible by integration', async () => {
    const { standin, client } = await setup()
    standin.forbid(/\/issues\/7\/comments$/)
    const e = await apiError(client.createComment(7, 'x'))
    expect(e.hint).toMatch(/issues: write/)
    await client.createComment(7, 'x')
  })

  it('a fine-grained token without the permission gets the fix for that kind of token', async () => {
    const { standin, client } = await setup()
    standin.failNext(/\/issues\/7\/comments$/, {
      status: 403,
      message: 'Resource not accessible by personal access token'
    })
    const e = await apiError(client.createComment(7, 'x'))
    expect(e.message).toMatch(/lacks a permission/)
    expect(e.hint).toMatch(/personal access token without this permission/)
    expect(e.hint).toMatch(/GITHUB_TOKEN as github-token/)
    expect(e.hint).toMatch(/push-token/)
  })

  it('checkIssuesAccess: a token that cannot read the issues is refused with the fix', async () => {
    const { standin, client } = await setup()
    await client.checkIssuesAccess()
    standin.failNext(/\/issues$/, {
      status: 403,
      message: 'Resource not accessible by personal access token'
    })
    const e = await apiError(client.checkIssuesAccess())
    expect(e.hint).toMatch(/push-token/)
  })

  it("recognises GitHub's documented 403 permission answers for every kind of token (generated)", () => {
    const documented = fc.constantFrom(
      'Resource not accessible by integration',
      'Resource not accessible by personal access token',
      'Resource not accessible by fine-grained personal access token',
      'Must have admin rights to Repository.',
      'Must have push access to view repository collaborators.',
      'Must have push access to view collaborator permission.',
      'Resource protected by organization SAML enforcement. You must grant your Personal Access token access to this organization.',
      'Although you appear to have the correct authorization credentials, the `acme` organization has enabled OAuth App access restrictions, meaning that data access to third-parties is limited.'
    )
    const spelled = fc
      .tuple(documented, fc.constantFrom('lower', 'upper', 'as is'), fc.constantFrom('', '.', ' '))
      .map(
        ([m, how, end]) =>
          (how === 'lower' ? m.toLowerCase() : how === 'upper' ? m.toUpperCase() : m) + end
      )
    fc.assert(
      fc.property(spelled, message => {
        expect(isPermissionRefusal(403, message, {})).toBe(true)
        // The same words with another status are another failure (404 hides, 401 is the token).
        expect(isPermissionRefusal(404, message, {})).toBe(false)
      })
    )
    // Any message, when GitHub names the permissions the endpoint accepts.
    fc.assert(
      fc.property(fc.string(), message => {
        expect(
          isPermissionRefusal(403, message, { 'x-accepted-github-permissions': 'issues=write' })
        ).toBe(true)
      })
    )
    for (const other of ['API rate limit exceeded for installation ID 1.', 'Forbidden', ''])
      expect(isPermissionRefusal(403, other, {})).toBe(false)
  })
})

describe('GitHub client: pagination', () => {
  const labelled = (s: GitHubStandin, count: number) => {
    for (let n = 1; n <= count; n++) {
      s.issues.push({
        number: 100 + n,
        title: `Incident ${n}`,
        body: n === 1 ? '<!-- the one -->' : '',
        labels: ['incident'],
        html_url: `${s.serverUrl}/${s.owner}/${s.repo}/issues/${100 + n}`,
        state: 'open'
      })
    }
  }

  it('follows the Link header to the last page: the oldest of 250 open issues is found', async () => {
    const { standin, client } = await setup()
    labelled(standin, 250)
    const found = await client.findOpenIssue(['incident'], i => i.body === '<!-- the one -->')
    expect(found?.number).toBe(101)
    expect(standin.requestsTo(/\/issues$/, 'GET').map(r => r.query.page ?? '1')).toEqual([
      '1',
      '2',
      '3'
    ])
    expect(await client.openIssuesLabelled(['incident'])).toHaveLength(250)
  })

  it('stops at the first match, and reads a bounded number of pages', async () => {
    const { standin, client } = await setup()
    labelled(standin, MAX_ISSUE_PAGES * 100 + 1)
    const newest = await client.findOpenIssue(['incident'], () => true)
    expect(newest?.number).toBe(100 + MAX_ISSUE_PAGES * 100 + 1)
    expect(standin.requestsTo(/\/issues$/, 'GET')).toHaveLength(1)
    const e = await apiError(client.findOpenIssue(['incident'], () => false))
    expect(e.message).toMatch(/more than 5000 open issues are labelled incident/)
    expect(e.hint).toMatch(/Close the incident issues/)
    expect(standin.requestsTo(/\/issues$/, 'GET')).toHaveLength(1 + MAX_ISSUE_PAGES)
  })
})

describe('GitHub client: rate limits', () => {
  const reads = (s: GitHubStandin) => s.requestsTo(/\/permission$/, 'GET').length

  it('waits out any number of limits within its retries (403 or 429, secondary or primary), then gives up with a hint', async () => {
    const { standin, client } = await setup()
    const retries = 3
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: retries + 1 }),
        fc.constantFrom(403 as const, 429 as const),
        fc.constantFrom('secondary' as const, 'primary' as const),
        async (times, status, kind) => {
          const before = reads(standin)
          standin.rateLimit(/\/permission$/, { times, status, kind, retryAfter: 1 })
          const answer = client.getPermission('octo-admin')
          if (times <= retries) {
            await expect(answer).resolves.toMatchObject({ permission: 'admin' })
            expect(reads(standin) - before).toBe(times + 1)
          } else {
            const e = await apiError(answer)
            expect(e.status).toBe(status)
            expect(e.hint).toMatch(/Retry the step later/)
            expect(reads(standin) - before).toBe(retries + 1)
          }
        }
      ),
      { numRuns: 12 }
    )
  })

  it('does not wait longer than its limit: a far retry-after fails at once', async () => {
    const { standin, client } = await setup()
    standin.rateLimit(/\/permission$/, { retryAfter: 3600 })
    const e = await apiError(client.getPermission('octo-admin'))
    expect(e.message).toMatch(/rate-limited/)
    expect(reads(standin)).toBe(1)
  })

  it('waits the retry-after GitHub names (in its units)', async () => {
    const { standin } = await setup()
    const client = new GitHubClient({
      apiUrl: standin.url,
      token: standin.token,
      owner: standin.owner,
      repo: standin.repo,
      limits: { secondMs: 100 }
    })
    standin.rateLimit(/\/permission$/, { status: 429, retryAfter: 3 })
    const start = Date.now()
    await client.getPermission('octo-admin')
    expect(Date.now() - start).toBeGreaterThanOrEqual(300)
  })

  it('repeats a POST refused by a rate limit (GitHub did not process it): one comment', async () => {
    const { standin, client } = await setup()
    standin.rateLimit(/\/issues\/7\/comments$/, { retryAfter: 1 })
    await client.createComment(7, 'once')
    expect(standin.comments.map(c => c.body)).toEqual(['once'])
    expect(standin.requestsTo(/\/issues\/7\/comments$/, 'POST')).toHaveLength(2)
  })
})

describe('GitHub client: proxy', () => {
  let proxy: TestProxy | undefined
  afterEach(async () => {
    await proxy?.close()
    proxy = undefined
  })

  const client = (s: GitHubStandin, apiUrl: string, settings: ProxySettings) =>
    new GitHubClient({
      apiUrl,
      token: s.token,
      owner: s.owner,
      repo: s.repo,
      proxy: settings,
      limits: { ...FAST, retries: 0, attemptTimeoutMs: 5000 }
    })

  it('HTTP_PROXY carries the requests to a host only the proxy can reach', async () => {
    const { standin } = await setup()
    proxy = await startProxy()
    const port = new URL(standin.url).port
    const viaProxy = client(standin, `http://github.test:${port}`, { httpProxy: proxy.url })
    expect(await viaProxy.getPermission('octo-admin')).toMatchObject({ permission: 'admin' })
    expect(proxy.tunnels).toEqual([`github.test:${port}`])
    expect(proxy.credentials).toEqual([undefined])
  })

  it('sends the proxy credentials of the proxy URL', async () => {
    const { standin } = await setup()
    proxy = await startProxy()
    const port = new URL(standin.url).port
    const proxyUrl = proxy.url.replace('://', '://ops:p%40ss@')
    await client(standin, `http://github.test:${port}`, { httpProxy: proxyUrl }).getPermission(
      'octo-admin'
    )
    expect(proxy.credentials).toEqual([`Basic ${Buffer.from('ops:p@ss').toString('base64')}`])
  })

  it('NO_PROXY and loopback hosts go direct', async () => {
    const { standin } = await setup()
    proxy = await startProxy()
    const port = new URL(standin.url).port
    // 0.0.0.0 reaches this host directly on Linux, and is not a loopback name to http-client.
    const proxied = client(standin, `http://0.0.0.0:${port}`, { httpProxy: proxy.url })
    await proxied.getPermission('octo-admin')
    expect(proxy.tunnels).toEqual([`0.0.0.0:${port}`])
    const bypass = { httpProxy: proxy.url, noProxy: 'example.org, 0.0.0.0' }
    await client(standin, `http://0.0.0.0:${port}`, bypass).getPermission('octo-admin')
    await client(standin, standin.url, { httpProxy: proxy.url }).getPermission('octo-admin')
    expect(proxy.tunnels).toHaveLength(1)
  })

  it('an unreachable API is an error that names the network and proxy settings', async () => {
    const { standin } = await setup()
    const direct = client(standin, 'http://github.test:9', { noProxy: '*' })
    const e = await apiError(direct.getPermission('octo-admin'))
    expect(e.message).toMatch(/could not be reached/)
    expect(e.hint).toMatch(/HTTPS_PROXY, NO_PROXY/)
  })
})

describe('GitHub client: time', () => {
  it('gives up on an API that never answers: each attempt is timed out, attempts are bounded', async () => {
    const silent = createServer(() => {
      // never answers
    })
    await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve))
    const { port } = silent.address() as AddressInfo
    try {
      const client = new GitHubClient({
        apiUrl: `http://127.0.0.1:${port}`,
        token: 't',
        owner: 'acme',
        repo: 'app',
        limits: { attemptTimeoutMs: 200, retries: 1, secondMs: 1 }
      })
      const start = Date.now()
      const e = await apiError(client.getPermission('octo-admin'))
      expect(e.message).toMatch(/could not be reached/)
      expect(Date.now() - start).toBeLessThan(5000)
    } finally {
      silent.closeAllConnections()
      await new Promise(resolve => silent.close(resolve))
    }
  })
})
