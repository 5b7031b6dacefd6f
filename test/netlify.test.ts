/** The Netlify provider against the local Netlify stand-in (its documented contract). */
import { afterEach, describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { RollbackError } from '../src/util/errors.js'
import { NetlifyProvider } from '../src/providers/netlify.js'
import { nextLink } from '../src/http/index.js'
import {
  startNetlifyStandin,
  type NetlifyStandin,
  type NetlifyStandinOptions
} from './support/netlify-standin.js'

let standin: NetlifyStandin | undefined
afterEach(async () => {
  await standin?.close()
  standin = undefined
})

const STREAMING = 'NEXT_PUBLIC_USE_STREAMING'
const instant = { now: () => Date.now(), sleep: async () => {}, random: () => 0.5 }

async function setup(options: NetlifyStandinOptions = {}, client: { token?: string } = {}) {
  standin = await startNetlifyStandin({
    env: [{ key: STREAMING, values: [{ context: 'production', value: 'true' }] }],
    ...options
  })
  const sleeps: number[] = []
  const provider = new NetlifyProvider({
    apiUrl: standin.apiUrl,
    token: client.token ?? standin.token,
    site: standin.site.id,
    tokenSource: 'NETLIFY_AUTH_TOKEN',
    fetch: globalThis.fetch,
    clock: {
      now: () => Date.now(),
      sleep: async ms => {
        sleeps.push(ms)
      },
      random: () => 0.5
    }
  })
  return { standin, provider, sleeps }
}

async function rejection(p: Promise<unknown>): Promise<RollbackError> {
  try {
    await p
  } catch (err) {
    expect(err).toBeInstanceOf(RollbackError)
    return err as RollbackError
  }
  throw new Error('expected a rejection')
}

const api = (s: NetlifyStandin, path: string, init: RequestInit = {}) =>
  fetch(`${s.apiUrl}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${s.token}`, ...init.headers }
  })

describe('Netlify stand-in (raw contract)', () => {
  it('answers 401 {code, message} without a valid token, with rate-limit headers when authenticated', async () => {
    const { standin } = await setup()
    const none = await fetch(`${standin.apiUrl}/sites/${standin.site.id}`)
    expect(none.status).toBe(401)
    expect(await none.json()).toEqual({ code: 401, message: expect.any(String) })
    const ok = await api(standin, `/sites/${standin.site.id}`)
    expect(ok.status).toBe(200)
    expect(ok.headers.get('x-ratelimit-limit')).toBe('500')
    expect(Number(ok.headers.get('x-ratelimit-remaining'))).toBe(499)
    expect(Number(ok.headers.get('x-ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000)
    const site = (await ok.json()) as { published_deploy: { state: string } }
    expect(site.published_deploy.state).toBe('ready')
  })

  it('pages deploys with page/per_page (max 100) and a Link header', async () => {
    const { standin } = await setup({ history: 149 })
    const first = await api(standin, `/sites/${standin.site.id}/deploys?per_page=500`)
    expect(((await first.json()) as unknown[]).length).toBe(100)
    const next = nextLink(first.headers.get('link'))
    expect(next).toMatch(/page=2/)
    const second = await fetch(next!, { headers: { authorization: `Bearer ${standin.token}` } })
    expect(((await second.json()) as unknown[]).length).toBe(50)
    expect(nextLink(second.headers.get('link'))).toBeUndefined()
  })

  it('refuses a duplicate create and a context PATCH on an all-contexts value with 422', async () => {
    const { standin } = await setup({
      env: [{ key: 'FLAG', values: [{ context: 'all', value: 'a' }] }]
    })
    const account = `/accounts/${standin.site.accountSlug}/env`
    const dup = await api(standin, `${account}?site_id=${standin.site.id}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ key: 'FLAG', values: [{ context: 'all', value: 'b' }] }])
    })
    expect(dup.status).toBe(422)
    const patch = await api(standin, `${account}/FLAG?site_id=${standin.site.id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ context: 'production', value: 'b' })
    })
    expect(patch.status).toBe(422)
    expect(standin.valueFor('FLAG', 'production')).toBe('a')
  })
})

describe('Netlify provider: variables', () => {
  it('reads one entry per runbook target; secrets are not readable outside dev', async () => {
    const { provider } = await setup({
      env: [
        {
          key: 'A',
          values: [
            { context: 'production', value: 'p' },
            { context: 'deploy-preview', value: 'x' },
            { context: 'branch-deploy', value: 'x' },
            { context: 'dev', value: 'd' }
          ]
        },
        { key: 'S', values: [{ context: 'production', value: 'hidden' }], is_secret: true }
      ]
    })
    const entries = await provider.readEnv(['A', 'S', 'MISSING'])
    expect(entries.map(e => [e.key, e.targets.join(), e.value])).toEqual([
      ['A', 'production', 'p'],
      ['A', 'preview', 'x'],
      ['A', 'development', 'd'],
      ['S', 'production', undefined]
    ])
    expect(entries.every(e => typeof e.updatedAt === 'number')).toBe(true)
  })

  it('creates, patches per context and splits an all-contexts value, touching only the targets', async () => {
    const { standin, provider } = await setup({
      env: [
        { key: STREAMING, values: [{ context: 'production', value: 'true' }] },
        { key: 'SHARED', values: [{ context: 'all', value: 'old' }] }
      ]
    })
    const changes = await provider.setEnv({ [STREAMING]: 'false', SHARED: 'new', FRESH: 'yes' }, [
      'production'
    ])
    expect(changes.map(c => [c.key, c.old?.value])).toEqual([
      [STREAMING, 'true'],
      ['SHARED', 'old'],
      ['FRESH', undefined]
    ])
    expect(standin.valueFor(STREAMING, 'production')).toBe('false')
    expect(standin.valueFor('SHARED', 'production')).toBe('new')
    expect(standin.valueFor('SHARED', 'deploy-preview')).toBe('old')
    expect(standin.valueFor('SHARED', 'dev')).toBe('old')
    expect(standin.valueFor('FRESH', 'production')).toBe('yes')
    expect(standin.valueFor('FRESH', 'dev')).toBeUndefined()
    expect(
      standin
        .writes()
        .map(r => r.method)
        .sort()
    ).toEqual(['PATCH', 'POST', 'PUT'])
  })

  it('sets any subset of targets; other contexts keep their values (generated)', async () => {
    const { standin } = await setup()
    const targets = fc.subarray(['production', 'preview', 'development'] as const, {
      minLength: 1
    })
    await fc.assert(
      fc.asyncProperty(targets, fc.boolean(), async (chosen, shared) => {
        const key = `K${standin.envVars.length}`
        standin.envVars.push({
          key,
          scopes: ['builds'],
          is_secret: false,
          updatedAt: Date.now(),
          values: shared
            ? [{ id: 'v0', context: 'all', value: 'old' }]
            : ['production', 'deploy-preview', 'branch-deploy', 'dev'].map((c, i) => ({
                id: `v${i}`,
                context: c as 'production',
                value: 'old'
              }))
        })
        const provider = new NetlifyProvider({
          apiUrl: standin.apiUrl,
          token: standin.token,
          site: standin.site.id,
          tokenSource: 'T',
          fetch: globalThis.fetch,
          clock: instant
        })
        await provider.setEnv({ [key]: 'new' }, [...chosen])
        const expectFor = (t: string) => (chosen.includes(t as 'production') ? 'new' : 'old')
        expect(standin.valueFor(key, 'production')).toBe(expectFor('production'))
        expect(standin.valueFor(key, 'deploy-preview')).toBe(expectFor('preview'))
        expect(standin.valueFor(key, 'branch-deploy')).toBe(expectFor('preview'))
        expect(standin.valueFor(key, 'dev')).toBe(expectFor('development'))
      }),
      { numRuns: 15 }
    )
  })
})

describe('Netlify provider: deploys', () => {
  it('builds production without cache and waits until the deploy is published', async () => {
    const { standin, provider, sleeps } = await setup()
    const live = await provider.currentProductionDeployment()
    expect(live?.aliasAssigned).toBe(true)
    await provider.setEnv({ [STREAMING]: 'false' }, ['production'])
    const created = await provider.redeploy(live!, { rollbackRunId: 'r1' })
    expect(standin.requestsTo(/\/builds$/, 'POST')[0]!.query.clear_cache).toBe('true')
    const states: string[] = []
    const done = await provider.waitForDeployment(created.id, {
      timeoutMs: 60_000,
      onProgress: d => states.push(d.state)
    })
    expect(done.state).toBe('READY')
    expect(standin.published()!.id).toBe(created.id)
    expect(standin.published()!.env[STREAMING]).toBe('false')
    expect(states.at(-1)).toBe('READY')
    expect(sleeps.every(ms => ms === 1000)).toBe(true)
  })

  it('reports a failed build with its error message', async () => {
    const { standin, provider } = await setup()
    standin.nextDeployOutcome('error')
    const created = await provider.redeploy((await provider.currentProductionDeployment())!, {})
    const err = await rejection(provider.waitForDeployment(created.id, { timeoutMs: 60_000 }))
    expect(err.message).toMatch(/ended ERROR: Build script returned non-zero exit code/)
  })

  it('with auto publishing locked, promote publishes the build and unlocks', async () => {
    const { standin, provider } = await setup()
    standin.lockPublishing()
    expect(await provider.autoAssignsProduction()).toBe(false)
    const created = await provider.redeploy((await provider.currentProductionDeployment())!, {})
    const done = await provider.waitForDeployment(created.id, { timeoutMs: 60_000, promote: true })
    expect(done.aliasAssigned).toBe(true)
    expect(standin.published()!.id).toBe(created.id)
    expect(standin.autoPublishing()).toBe(true)
  })

  it('restores the last deploy before a time, found on a later page, and locks publishing', async () => {
    const { standin, provider } = await setup({ history: 230 })
    const target = standin.deploys[5]!
    const found = await provider.lastDeployBefore(standin.deploys[6]!.createdAt)
    expect(found?.id).toBe(target.id)
    expect(standin.requestsTo(/\/deploys$/, 'GET').length).toBe(3)
    await provider.restore(found!.id)
    expect(standin.published()!.id).toBe(target.id)
    expect(standin.autoPublishing()).toBe(false)
  })

  it('finds a build still on its way after a given time (a crashed run)', async () => {
    const { standin, provider } = await setup()
    const since = standin.published()!.createdAt
    const created = await provider.redeploy((await provider.currentProductionDeployment())!, {})
    const pending = await provider.pendingProductionDeployments(since)
    expect(pending.map(d => d.id)).toEqual([created.id])
    standin.advance(10)
    expect(await provider.pendingProductionDeployments(since)).toEqual([])
  })
})

describe('Netlify provider: errors and limits', () => {
  it('names the token variable on 401 and the site on 404', async () => {
    const { provider, standin } = await setup({}, { token: 'wrong' })
    const err = await rejection(provider.checkAccess())
    expect(err.message).toMatch(/Netlify rejected the token \(401/)
    expect(err.hint).toMatch(/NETLIFY_AUTH_TOKEN/)
    const lost = new NetlifyProvider({
      apiUrl: standin.apiUrl,
      token: standin.token,
      site: 'nope',
      tokenSource: 'NETLIFY_AUTH_TOKEN',
      fetch: globalThis.fetch,
      clock: instant
    })
    const missing = await rejection(lost.checkAccess())
    expect(missing.message).toMatch(/site `nope` not found \(404/)
    expect(missing.hint).toMatch(/hosting.project/)
  })

  it('a read-only token gets 403 naming the token variable, and nothing changes', async () => {
    const { standin } = await setup({ readOnlyToken: 'reader' })
    const reader = new NetlifyProvider({
      apiUrl: standin.apiUrl,
      token: 'reader',
      site: standin.site.id,
      tokenSource: 'NETLIFY_AUTH_TOKEN',
      fetch: globalThis.fetch,
      clock: instant
    })
    const err = await rejection(reader.setEnv({ [STREAMING]: 'false' }, ['production']))
    expect(err.message).toMatch(/refused PATCH .* \(403/)
    expect(err.hint).toMatch(/NETLIFY_AUTH_TOKEN/)
    expect(standin.valueFor(STREAMING, 'production')).toBe('true')
  })

  it('any other 4xx (a restore of a deploy that is not ready: 422) says what to fix', async () => {
    const { standin, provider } = await setup()
    const live = await provider.currentProductionDeployment()
    standin.nextDeployOutcome('error')
    const failed = await provider.redeploy(live!, {})
    standin.advance(10)
    const err = await rejection(provider.restore(failed.id))
    expect(err.message).toMatch(/^Netlify refused POST \/api\/v1\/sites\/.*\/restore \(422: Deploy/)
    expect(err.hint).toMatch(/^Fix what Netlify names/)
  })

  it('waits for X-RateLimit-Reset on 429, never sooner, then succeeds', async () => {
    const { standin } = await setup()
    const sleeps: number[] = []
    const provider = new NetlifyProvider({
      apiUrl: standin.apiUrl,
      token: standin.token,
      site: standin.site.id,
      tokenSource: 'NETLIFY_AUTH_TOKEN',
      fetch: globalThis.fetch,
      clock: {
        now: () => Date.now(),
        // Sleeping lets the stand-in's window reach its reset.
        sleep: async ms => {
          sleeps.push(ms)
          standin.exhaustRateLimit(0)
        },
        random: () => 0.5
      }
    })
    standin.exhaustRateLimit(20)
    await provider.checkAccess()
    expect(standin.requests.map(r => r.status)).toEqual([429, 200])
    expect(sleeps).toHaveLength(1)
    expect(sleeps[0]).toBeGreaterThanOrEqual(19_000)
    expect(sleeps[0]).toBeLessThanOrEqual(21_500)
  })

  it('fails at once when the reset is far away, without writing', async () => {
    const { standin, provider, sleeps } = await setup()
    standin.exhaustRateLimit(600)
    const err = await rejection(provider.setEnv({ [STREAMING]: 'false' }, ['production']))
    expect(err.message).toMatch(/429: .*past this step's deadline/)
    expect(sleeps).toEqual([])
    expect(standin.writes()).toEqual([])
  })

  it('retries reads on 5xx but never repeats a build request', async () => {
    const { standin, provider, sleeps } = await setup()
    standin.failNext(`/api/v1/sites/${standin.site.id}`, { times: 2, status: 502 })
    const live = await provider.currentProductionDeployment()
    expect(sleeps).toEqual([1500, 2500])
    standin.failNext(/\/builds$/, { status: 500, method: 'POST' })
    const err = await rejection(provider.redeploy(live!, {}))
    expect(err.hint).toMatch(/no idempotency keys/)
    expect(standin.requestsTo(/\/builds$/, 'POST').length).toBe(1)
  })
})

describe('NetlifyProvider: a poll ends by its deadline even when a request hangs', () => {
  it('waitForDeployment: a deploy read that never answers ends the wait on time, saying why', async () => {
    const { standin, provider } = await setup()
    const live = standin.published()!
    standin.hangNext(`/api/v1/deploys/${live.id}`, { times: 20 })
    const started = Date.now()
    const err = await rejection(provider.waitForDeployment(live.id, { timeoutMs: 400 }))
    expect(Date.now() - started).toBeLessThan(2_000)
    expect(err.message).toMatch(
      new RegExp(
        `^deploy ${live.id} not live after 400 ms .*the last look got no answer in time: .*no answer within`
      )
    )
  }, 10_000)
})
