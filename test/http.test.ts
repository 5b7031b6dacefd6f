/**
 * The HTTP layer against a local server with an injected clock: retries and their waits, the
 * deadline, bounded bodies, error shapes, pagination, polling, proxy; properties of the retry policy.
 */
import { afterEach, describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import {
  ACTIONS_CONVENTION,
  bypassesProxy,
  checkUrl,
  createFetch,
  defaultRetryWhen,
  githubErrorShape,
  HttpClient,
  HttpStatusError,
  ListNotReadError,
  netlifyErrorShape,
  nextLink,
  poll,
  pollInterval,
  postJson,
  proxyFor,
  proxySettingsFrom,
  readLinkedPages,
  readNumberedPages,
  readVercelPages,
  retryDecision,
  serverWaitMs,
  vercelErrorShape,
  type Clock,
  type FetchLike,
  type RetryWhen
} from '../src/http/index.js'
import { proxyFor as githubProxyFor } from '../src/github/proxy.js'
import {
  startJsonServer,
  type JsonServer,
  type RecordedRequest,
  type Reply
} from './support/http.js'
import { startProxy, type TestProxy } from './support/proxy.js'

/** The error a promise rejects with (fails the test when it resolves). */
async function failure<E = HttpStatusError>(promise: Promise<unknown>): Promise<E> {
  return promise.then(
    () => {
      throw new Error('expected a failure')
    },
    (e: unknown) => e as E
  )
}

const START = Date.parse('2026-12-02T01:00:00Z')

/** Virtual time: sleeping moves the clock, nothing waits for real. */
function fakeClock(random = 0.5) {
  let now = START
  const sleeps: number[] = []
  const clock: Clock = {
    now: () => now,
    sleep: async ms => {
      sleeps.push(ms)
      now += ms
    },
    random: () => random
  }
  return { clock, sleeps, advance: (ms: number) => (now += ms) }
}

const servers: Array<{ close(): Promise<void> }> = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map(s => s.close()))
})

/** A server answering from a script, then 200 `{ ok: true }`. */
async function scripted(
  replies: Reply[] = [],
  fallback: (r: RecordedRequest) => Reply = () => ({ status: 200, body: { ok: true } })
) {
  const requests: RecordedRequest[] = []
  const server = await startJsonServer(req => {
    requests.push(req)
    return replies.shift() ?? fallback(req)
  })
  servers.push(server)
  return { server, requests }
}

function client(
  server: JsonServer,
  clock: Clock,
  over: Partial<ConstructorParameters<typeof HttpClient>[0]> = {}
) {
  return new HttpClient({
    service: 'Vercel',
    baseUrl: server.url,
    headers: { authorization: 'Bearer tok-123' },
    errorShape: vercelErrorShape,
    clock,
    ...over
  })
}

const vercelError = (
  status: number,
  code: string,
  headers: Record<string, string> = {}
): Reply => ({
  status,
  headers,
  body: { error: { code, message: `${code} happened` } }
})

describe('HttpClient', () => {
  it('sends the headers and common query, and parses JSON', async () => {
    const { server, requests } = await scripted([{ status: 200, body: { id: 'prj_1' } }])
    const http = client(server, fakeClock().clock, { query: { teamId: 'team_1' } })
    const body = await http.json<{ id: string }>('GET', '/v9/projects/app', { query: { a: 'b' } })
    expect(body).toEqual({ id: 'prj_1' })
    expect(requests[0]!.authorization).toBe('Bearer tok-123')
    expect(requests[0]!.query).toEqual({ teamId: 'team_1', a: 'b' })
  })

  it('turns an error body into HttpStatusError with the provider shape, and lets mapError rename it', async () => {
    const { server } = await scripted([
      vercelError(401, 'not_authorized'),
      vercelError(401, 'not_authorized')
    ])
    const http = client(server, fakeClock().clock)
    const err = await failure(http.request('GET', '/v9/projects/app'))
    expect(err).toBeInstanceOf(HttpStatusError)
    expect(err.status).toBe(401)
    expect(err.api.code).toBe('not_authorized')
    expect(err.message).toBe(
      'Vercel GET /v9/projects/app failed (401 not_authorized: not_authorized happened)'
    )
    const mapped = client(server, fakeClock().clock, {
      mapError: e => (e.status === 401 ? new Error('fix VERCEL_TOKEN') : undefined)
    })
    await expect(mapped.request('GET', '/x')).rejects.toThrow('fix VERCEL_TOKEN')
  })

  it('reads the Netlify and GitHub error shapes', () => {
    expect(netlifyErrorShape({ code: 404, message: 'Not Found' }, '')).toMatchObject({
      code: '404',
      message: 'Not Found'
    })
    expect(
      githubErrorShape({ message: 'Bad credentials', documentation_url: 'u' }, '')
    ).toMatchObject({ message: 'Bad credentials' })
    expect(vercelErrorShape(undefined, '<html> bad gateway </html>').message).toBe(
      '<html> bad gateway </html>'
    )
  })

  it('returns accepted statuses as answers', async () => {
    const { server } = await scripted([{ status: 404, body: { message: 'Not Found' } }])
    const answer = await client(server, fakeClock().clock).request('GET', '/x', { accept: [404] })
    expect(answer.status).toBe(404)
  })

  it('waits exactly Retry-After (seconds) plus jitter on 429, then succeeds', async () => {
    const { server, requests } = await scripted([
      vercelError(429, 'rate_limited', { 'retry-after': '7' })
    ])
    const { clock, sleeps } = fakeClock(0.25)
    await client(server, clock).request('GET', '/x')
    expect(sleeps).toEqual([7250])
    expect(requests).toHaveLength(2)
  })

  it('honours Retry-After as an HTTP date, and a rate-limit reset when there is no Retry-After', async () => {
    const date = new Date(START + 90_000).toUTCString()
    const reset = String(Math.floor((START + 120_000) / 1000))
    const { server } = await scripted([
      vercelError(503, 'unavailable', { 'retry-after': date }),
      vercelError(429, 'rate_limited', {
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': reset
      }),
      vercelError(429, 'rate_limited', {
        'retry-after': '3',
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': reset
      })
    ])
    const { clock, sleeps } = fakeClock(0)
    await client(server, clock).request('GET', '/x')
    // The reset is 120 s after START; the first wait already moved the clock by 90 s.
    expect(sleeps).toEqual([90_000, 30_000, 3_000])
  })

  it('a 429 without X-RateLimit-Remaining still waits for X-RateLimit-Reset, never less', async () => {
    const reset = String(Math.floor((START + 45_000) / 1000))
    const { server } = await scripted([
      vercelError(429, 'rate_limited', { 'x-ratelimit-reset': reset }),
      // Not a rate limit: a reset header alone does not make a 503 wait for it.
      vercelError(503, 'unavailable', { 'x-ratelimit-reset': reset })
    ])
    const { clock, sleeps } = fakeClock(0)
    await client(server, clock, { retry: { baseDelayMs: 1000 } }).request('GET', '/x')
    expect(sleeps).toEqual([45_000, 2_000])
  })

  it('backs off exponentially on other 5xx and gives up after maxTries', async () => {
    const { server, requests } = await scripted([], () => vercelError(500, 'internal'))
    const { clock, sleeps } = fakeClock(0)
    const err = await failure<Error>(
      client(server, clock, { retry: { maxTries: 4, baseDelayMs: 1000 } }).request('GET', '/x')
    )
    expect(sleeps).toEqual([1000, 2000, 4000])
    expect(requests).toHaveLength(4)
    expect(err.message).toMatch(/still failing after 4 tries \(last: 500 internal/)
  })

  it('never repeats an unmarked POST; a POST marked `rejected` repeats only 429/503', async () => {
    const { server, requests } = await scripted([
      vercelError(429, 'rate_limited', { 'retry-after': '1' })
    ])
    const { clock } = fakeClock()
    await expect(
      client(server, clock).request('POST', '/v13/deployments', { json: {} })
    ).rejects.toThrow(/429/)
    expect(requests).toHaveLength(1)

    const second = await scripted([
      vercelError(429, 'rate_limited', { 'retry-after': '1' }),
      vercelError(500, 'internal')
    ])
    await expect(
      client(second.server, clock).request('POST', '/v13/deployments', {
        json: {},
        retry: 'rejected'
      })
    ).rejects.toThrow(/500/)
    expect(second.requests).toHaveLength(2)
  })

  it('fails at once when the server asks for a wait past the deadline, saying when to retry', async () => {
    const { server, requests } = await scripted([
      vercelError(429, 'rate_limited', { 'retry-after': '3600' })
    ])
    const { clock, sleeps } = fakeClock(0)
    const err = await failure(client(server, clock, { budgetMs: 60_000 }).request('GET', '/x'))
    expect(sleeps).toEqual([])
    expect(requests).toHaveLength(1)
    expect(err.message).toMatch(/asks to wait 60 min 0 s, past this step's deadline/)
    expect(err.hint).toContain(new Date(START + 3_600_000).toISOString())
  })

  it('counts waits toward the deadline even when the injected sleep returns at once', async () => {
    const { server, requests } = await scripted([], () =>
      vercelError(429, 'rate_limited', { 'retry-after': '40' })
    )
    const sleeps: number[] = []
    const instant: Clock = {
      now: () => START,
      sleep: async ms => void sleeps.push(ms),
      random: () => 0
    }
    const err = await failure(client(server, instant, { budgetMs: 100_000 }).request('GET', '/x'))
    expect(sleeps).toEqual([40_000, 40_000])
    expect(requests).toHaveLength(3)
    expect(err.message).toMatch(/past this step's deadline/)
  })

  it('times out a try that gets no answer, retries an idempotent call, names the timeout', async () => {
    const hang = await startJsonServer(() => new Promise<Reply>(() => undefined))
    servers.push(hang)
    let calls = 0
    const counting: FetchLike = (input, init) => {
      calls++
      return globalThis.fetch(input, init)
    }
    const err = await failure<Error>(
      client(hang, fakeClock(0).clock, {
        timeoutMs: 150,
        retry: { maxTries: 2 },
        fetch: counting
      }).request('GET', '/slow')
    )
    expect(err.name).toBe('HttpTransportError')
    expect(err.message).toMatch(/no answer within 150 ms \(2 tries\)/)
    expect(calls).toBe(2)
  })

  it('refuses a body larger than the limit', async () => {
    const { server } = await scripted([{ status: 200, text: 'x'.repeat(10_000) }])
    await expect(
      client(server, fakeClock().clock, { maxBodyBytes: 1000 }).request('GET', '/big')
    ).rejects.toThrow(/answered more than 1000 bytes/)
  })

  it('refuses to send the token to another origin', async () => {
    const { server } = await scripted()
    expect(() => client(server, fakeClock().clock).url('http://elsewhere.example/x')).toThrow(
      /another origin/
    )
  })
})

describe('retry policy (properties)', () => {
  const headerArb = fc.record(
    {
      'retry-after': fc.oneof(
        fc.integer({ min: 0, max: 7200 }).map(String),
        fc.integer({ min: -60, max: 7200 }).map(s => new Date(START + s * 1000).toUTCString())
      ),
      'x-ratelimit-remaining': fc.constantFrom('0', '5'),
      'x-ratelimit-reset': fc
        .integer({ min: 0, max: 7200 })
        .map(s => String(Math.floor(START / 1000) + s))
    },
    { requiredKeys: [] }
  )
  const failureArb = fc.oneof(
    fc.constant({ kind: 'network' as const }),
    fc
      .record({
        status: fc.constantFrom(400, 401, 403, 404, 409, 429, 500, 502, 503, 504),
        headers: headerArb
      })
      .map(f => ({ kind: 'status' as const, status: f.status, headers: new Headers(f.headers) }))
  )
  const settingsArb = fc.record({
    maxTries: fc.integer({ min: 1, max: 8 }),
    baseDelayMs: fc.integer({ min: 1, max: 10_000 }),
    maxBackoffMs: fc.integer({ min: 1, max: 60_000 }),
    jitterMs: fc.integer({ min: 0, max: 2_000 })
  })

  it('never retries a non-idempotent call that is not marked', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('POST', 'PATCH'),
        failureArb,
        settingsArb,
        fc.double({ min: 0, max: 1, noNaN: true }),
        (method, failure, settings, r) => {
          const d = retryDecision({
            when: defaultRetryWhen(method),
            failure,
            triesDone: 1,
            settings,
            nowMs: START,
            deadlineMs: START + 1e9,
            random: () => r
          })
          return !d.retry
        }
      )
    )
  })

  it('never waits less than the server asked', () => {
    fc.assert(
      fc.property(
        failureArb,
        settingsArb,
        fc.constantFrom<RetryWhen>('rejected', 'server-error', 'any-failure'),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (failure, settings, when, r) => {
          const d = retryDecision({
            when,
            failure,
            triesDone: 1,
            settings,
            nowMs: START,
            deadlineMs: START + 1e9,
            random: () => r
          })
          if (!d.retry || failure.kind !== 'status') return true
          return d.waitMs >= (serverWaitMs(failure.headers, START, failure.status) ?? 0)
        }
      )
    )
  })

  it('bounds the tries and the total time of a call, whatever the server answers', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(failureArb, { minLength: 1, maxLength: 12 }),
        settingsArb,
        fc.integer({ min: 1_000, max: 600_000 }),
        fc.constantFrom('GET', 'PUT', 'POST', 'DELETE'),
        fc.constantFrom<RetryWhen | undefined>(
          undefined,
          'rejected',
          'server-error',
          'any-failure'
        ),
        async (failures, settings, budgetMs, method, when) => {
          const { clock } = fakeClock(0.9)
          let calls = 0
          const fake: FetchLike = async () => {
            const f = failures[Math.min(calls++, failures.length - 1)]!
            if (f.kind === 'network') throw new TypeError('fetch failed')
            return new Response(JSON.stringify({ error: { code: 'x' } }), {
              status: f.status,
              headers: f.headers
            })
          }
          const http = new HttpClient({
            service: 'S',
            baseUrl: 'http://s.test',
            fetch: fake,
            clock,
            budgetMs,
            retry: settings
          })
          await http.request(method, '/x', { retry: when }).catch(() => undefined)
          const tooMany = calls > settings.maxTries
          const tooLong = clock.now() - START > budgetMs
          const unmarked = when === undefined && method === 'POST' && calls > 1
          return !tooMany && !tooLong && !unmarked
        }
      ),
      { numRuns: 200 }
    )
  })
})

describe('pagination', () => {
  it('follows Link rel="next" and reads every page', async () => {
    const { server } = await scripted([], req => {
      const page = Number(req.query.page ?? 1)
      const next =
        page < 3
          ? `<${server.url}/items?page=${page + 1}>; rel="next", <${server.url}/items?page=3>; rel="last"`
          : ''
      const headers: Record<string, string> = next ? { link: next } : {}
      return { status: 200, body: [page], headers }
    })
    const all = await readLinkedPages(
      client(server, fakeClock().clock),
      '/items',
      b => b as number[],
      { what: 'items' }
    )
    expect(all).toEqual([1, 2, 3])
    expect(nextLink('<https://a/x?page=2>; rel="next"')).toBe('https://a/x?page=2')
    expect(nextLink('<https://a/x?page=9>; rel="last"')).toBeUndefined()
  })

  it('follows Vercel pagination.next with until= and refuses a list longer than the cap', async () => {
    const { server, requests } = await scripted([], req => {
      const until = Number(req.query.until ?? 0)
      return {
        status: 200,
        body: {
          envs: [until],
          pagination: { count: 1, next: until < 4 ? until + 1 : null, prev: null }
        }
      }
    })
    const http = client(server, fakeClock().clock)
    expect(
      await readVercelPages(http, '/v10/projects/p/env', 'envs', { what: 'env list' })
    ).toEqual([0, 1, 2, 3, 4])
    expect(requests.map(r => r.query.until)).toEqual([undefined, '1', '2', '3', '4'])
    await expect(
      readVercelPages(http, '/v10/projects/p/env', 'envs', { what: 'the env list', maxPages: 3 })
    ).rejects.toThrow(ListNotReadError)
  })

  it('reads page/per_page until a short page', async () => {
    const { server } = await scripted([], req => {
      const page = Number(req.query.page)
      return { status: 200, body: page < 3 ? [page, page] : [page] }
    })
    const http = client(server, fakeClock().clock)
    expect(
      await readNumberedPages(http, '/l', b => b as number[], { what: 'l', perPage: 2 })
    ).toEqual([1, 1, 2, 2, 3])
    await expect(
      readNumberedPages(http, '/l', b => b as number[], {
        what: 'the list',
        perPage: 2,
        maxPages: 2
      })
    ).rejects.toThrow(/the list has more than 2 pages: it was not read to the end/)
  })
})

describe('poll', () => {
  it('follows the Vercel CLI schedule and stops at the deadline', async () => {
    const { clock, sleeps } = fakeClock()
    const err = await failure<Error>(
      poll({
        check: async () => ({ done: false as const, state: 'BUILDING' }),
        timeoutMs: 400_000,
        clock
      })
    )
    expect(err.message).toMatch(/still BUILDING after/)
    expect(sleeps.slice(0, 15).every(ms => ms === 1000)).toBe(true)
    expect(sleeps).toContain(5000)
    expect(sleeps).toContain(15000)
    expect(sleeps).toContain(30000)
    expect(sleeps.reduce((a, b) => a + b, 0)).toBe(400_000)
    expect([
      pollInterval(0),
      pollInterval(20_000),
      pollInterval(100_000),
      pollInterval(400_000)
    ]).toEqual([1000, 5000, 15000, 30000])
  })

  it('returns the value when done and reports state changes once', async () => {
    const states = ['QUEUED', 'QUEUED', 'BUILDING']
    const seen: string[] = []
    const value = await poll({
      check: async () => {
        const s = states.shift()
        return s ? { done: false, state: s } : { done: true, value: 'READY' }
      },
      onState: s => seen.push(s),
      timeoutMs: 60_000,
      clock: fakeClock().clock
    })
    expect(value).toBe('READY')
    expect(seen).toEqual(['QUEUED', 'BUILDING'])
  })
  it('gives every look the poll deadline, never later than the time left', async () => {
    const { clock } = fakeClock()
    const started = clock.now()
    const deadlines: number[] = []
    await failure<Error>(
      poll({
        check: async ({ deadline }) => {
          deadlines.push(deadline - clock.now())
          return { done: false as const, state: 'BUILDING' }
        },
        timeoutMs: 20_000,
        clock
      })
    )
    expect(deadlines[0]).toBe(20_000)
    // Each look is left exactly the time the poll has left, and none is made once it is up.
    expect(deadlines.every((left, i) => i === 0 || left < deadlines[i - 1]!)).toBe(true)
    expect(Math.min(...deadlines)).toBeGreaterThan(0)
    expect(clock.now() - started).toBeLessThanOrEqual(20_000)
  })
})

describe('proxy', () => {
  let proxy: TestProxy
  afterEach(async () => proxy?.close())

  it('sends requests through HTTP(S)_PROXY, and NO_PROXY hosts around it', async () => {
    proxy = await startProxy()
    const { server, requests } = await scripted([], () => ({ status: 200, body: { ok: true } }))
    const port = new URL(server.url).port
    const fetch = createFetch(proxySettingsFrom({ HTTP_PROXY: proxy.url, NO_PROXY: 'localhost' }))
    const http = client(server, fakeClock().clock, { fetch })
    expect(await http.json('GET', '/through')).toEqual({ ok: true })
    expect(proxy.tunnels).toEqual([`127.0.0.1:${port}`])
    const direct = new HttpClient({ service: 'S', baseUrl: `http://localhost:${port}`, fetch })
    expect(await direct.json('GET', '/direct')).toEqual({ ok: true })
    expect(proxy.tunnels).toHaveLength(1)
    expect(requests.map(r => r.path)).toEqual(['/through', '/direct'])
  })

  it('matches NO_PROXY entries as curl does', () => {
    const u = (s: string) => new URL(s)
    expect(bypassesProxy(u('https://api.vercel.com/x'), '.vercel.com')).toBe(true)
    expect(bypassesProxy(u('https://api.vercel.com/x'), 'vercel.com')).toBe(true)
    expect(bypassesProxy(u('https://notvercel.com/x'), 'vercel.com')).toBe(false)
    expect(bypassesProxy(u('http://127.0.0.1:8080/'), '127.0.0.1:9090')).toBe(false)
    expect(bypassesProxy(u('http://127.0.0.1:8080/'), 'example.com, 127.0.0.1:8080')).toBe(true)
    expect(bypassesProxy(u('https://x.test/'), '*')).toBe(true)
    expect(bypassesProxy(u('https://x.test/'), '')).toBe(false)
    expect(
      proxySettingsFrom({ https_proxy: 'http://p:1', HTTPS_PROXY: 'http://q:2' }).httpsProxy
    ).toBe('http://p:1')
  })

  it('reads the variables as curl does, where GitHub’s client follows @actions/http-client', () => {
    const settings = proxySettingsFrom({ HTTP_PROXY: 'proxy.corp:3128', NO_PROXY: '.corp' })
    const github = (url: string) => githubProxyFor(new URL(url), settings)?.href
    const curl = (url: string) => proxyFor(new URL(url), settings)?.href
    // A bare host:port is an http proxy, also for https URLs without HTTPS_PROXY.
    expect(curl('https://api.vercel.com/')).toBe('http://proxy.corp:3128/')
    expect(github('https://api.github.com/')).toBeUndefined()
    expect(github('http://api.github.com/')).toBeUndefined()
    // Loopback goes direct for GitHub only; `.corp` names corp itself for curl only.
    expect(curl('http://127.0.0.1:8080/')).toBe('http://proxy.corp:3128/')
    expect(github('http://127.0.0.1:8080/')).toBeUndefined()
    expect(bypassesProxy(new URL('http://corp/'), '.corp')).toBe(true)
    expect(bypassesProxy(new URL('http://corp/'), '.corp', ACTIONS_CONVENTION)).toBe(false)
    expect(bypassesProxy(new URL('http://a.corp/'), '.corp', ACTIONS_CONVENTION)).toBe(true)
  })
})

describe('checkUrl and postJson', () => {
  it('checkUrl: one request, any status is an answer, the body is bounded', async () => {
    const { server, requests } = await scripted([{ status: 503, text: 'y'.repeat(5000) }])
    const answer = await checkUrl(`${server.url}/health`, { timeoutMs: 1000, maxBytes: 100 })
    expect(answer).toMatchObject({ status: 503, truncated: true })
    expect(answer.text).toHaveLength(100)
    expect(requests).toHaveLength(1)
    await expect(checkUrl('http://127.0.0.1:9/x', { timeoutMs: 1000 })).rejects.toThrow(
      /^GET 127\.0\.0\.1:9: /
    )
  })

  it('postJson retries 429/5xx after Retry-After, not a 4xx, and keeps the secret path out of messages', async () => {
    const { server, requests } = await scripted([
      { status: 429, headers: { 'retry-after': '2' }, text: 'slow down' },
      { status: 502, text: 'bad gateway' }
    ])
    const { clock, sleeps } = fakeClock(0)
    const answer = await postJson(`${server.url}/hooks/T000/SECRET`, { text: 'hi' }, { clock })
    expect(answer.status).toBe(200)
    expect(sleeps[0]).toBe(2000)
    expect(requests).toHaveLength(3)
    expect(requests[2]!.body).toEqual({ text: 'hi' })

    const bad = await scripted([{ status: 404, text: 'no_service' }])
    const err = await failure<Error>(postJson(`${bad.server.url}/hooks/T000/SECRET`, {}, { clock }))
    expect(bad.requests).toHaveLength(1)
    expect(err.message).toMatch(/404/)
    expect(err.message).not.toContain('SECRET')
  })
})
