/**
 * flags.instant against the Netlify stand-in: the restore of the last good deploy comes first
 * (locking auto publishing) and is checked; the durable fix (variable, fresh build of the branch)
 * is published and auto publishing unlocked; no qualifying deploy, a failed check, a crash after
 * the restore and the request budget before the first write.
 */
import { afterEach, describe, expect, it } from '@jest/globals'
import type { Journal } from '../src/engine.js'
import { RollbackError, type Step } from '../src/model.js'
import { flagsPhase, type FlagsAction } from '../src/phases/flags.js'
import type { Mitigation } from '../src/phases/flags-instant.js'
import type { HostingProvider } from '../src/providers/types.js'
import { mitigationLine } from '../src/report/mitigation.js'
import {
  startNetlifyStandin,
  type NetlifyStandin,
  type NetlifyStandinOptions
} from './support/netlify-standin.js'
import { testContext, testRunbook } from './support/context.js'
import { badChangeHistory, type TestRepo } from './support/git.js'

let standin: NetlifyStandin | undefined
let repo: TestRepo | undefined
afterEach(async () => {
  await standin?.close()
  standin = undefined
  repo?.cleanup()
  repo = undefined
})

const TOKEN = 'netlify-token-instant'
const KEY = 'NEXT_PUBLIC_USE_STREAMING'
const GOOD = 'a'.repeat(40)
const BAD = 'b'.repeat(40)
const HEAD = 'c'.repeat(40)

/** One earlier deploy (built from GOOD) and the published bad one (BAD); the branch is at HEAD. */
async function setup(
  options: NetlifyStandinOptions = { history: 1, commits: [GOOD, BAD], head: HEAD },
  check?: (s: NetlifyStandin) => Record<string, unknown>,
  instant: unknown = true,
  workdir?: string
) {
  standin = await startNetlifyStandin({
    token: TOKEN,
    env: [{ key: KEY, values: [{ context: 'production', value: 'true' }] }],
    ...options
  })
  const runbook = testRunbook({
    hosting: { provider: 'netlify', project: standin.site.id, 'api-url': standin.apiUrl },
    flags: { set: { [KEY]: 'false' }, 'wait-timeout': '2m', instant },
    ...(check ? { verify: { checks: [check(standin)] } } : {})
  })
  const env = { NETLIFY_AUTH_TOKEN: TOKEN }
  const ctx = testContext({ runbook, env, ...(workdir ? { workdir } : {}) })
  const step = flagsPhase.plan(runbook, ctx.request)[0] as Step<FlagsAction>
  return { standin, ctx, step }
}

const healthServes = (text: () => string) => (s: NetlifyStandin) => ({
  name: 'health',
  url: `${s.url}/app/api/health`,
  'expect-text': text(),
  timeout: '5s'
})

/** Each write as `METHOD path` without the API prefix and the ids' own text. */
function writeLog(s: NetlifyStandin, names: Record<string, string>): string[] {
  return s.writes().map(r => {
    let path = r.path.replace('/api/v1', '')
    for (const [id, name] of Object.entries(names)) path = path.split(id).join(name)
    return `${r.method} ${path}`
  })
}

describe('flags.instant on Netlify', () => {
  it('restores the last good deploy, checks it, then publishes a fresh build of the branch and unlocks', async () => {
    let goodId = ''
    const { standin, ctx, step } = await setup(
      undefined,
      healthServes(() => goodId)
    )
    const [good, bad] = standin.deploys
    goodId = good!.id
    const result = await flagsPhase.run(step, ctx)
    expect(result.error).toBeUndefined()
    expect(result.status).toBe('succeeded')
    const fresh = standin.published()!
    expect(
      writeLog(standin, { [good!.id]: 'GOOD', [fresh.id]: 'NEW', [standin.site.id]: 'SITE' })
    ).toEqual([
      'POST /sites/SITE/deploys/GOOD/restore',
      'POST /deploys/GOOD/lock',
      `PATCH /accounts/${standin.site.accountSlug}/env/${KEY}`,
      'POST /sites/SITE/builds',
      'POST /sites/SITE/deploys/NEW/restore',
      'POST /deploys/NEW/unlock'
    ])
    expect(result.changed[0]).toBe(
      `instant rollback: production serves ${good!.id} again (from ${bad!.id})`
    )
    expect(fresh.commitRef).toBe(HEAD)
    expect(fresh.env[KEY]).toBe('false')
    expect(standin.autoPublishing()).toBe(true)
    const mitigation = result.details?.mitigation as Mitigation
    expect(mitigation).toMatchObject({ servedId: good!.id, failedChecks: [] })

    const writes = standin.writes().length
    const again = await flagsPhase.run(step, ctx)
    expect(again).toMatchObject({ status: 'succeeded', changed: [] })
    expect(standin.writes()).toHaveLength(writes)
  })

  it('without an earlier ready deploy warns and goes straight to the durable fix', async () => {
    const { standin, ctx, step } = await setup({ history: 0, commits: [BAD], head: HEAD })
    const result = await flagsPhase.run(step, ctx)
    expect(result.status).toBe('succeeded')
    expect((result.details?.mitigation as Mitigation).skipped).toMatch(/no READY production/)
    expect(ctx.log.lines.join('\n')).toMatch(/warn: flags: instant rollback skipped/)
    expect(standin.writes()[0]!.method).toBe('PATCH')
    expect(standin.requestsTo(/\/lock$/)).toHaveLength(0)
    expect(standin.published()!.env[KEY]).toBe('false')
    expect(standin.autoPublishing()).toBe(true)
  })

  it('a restored deploy that fails its check stays served, the durable fix follows, the report does not claim mitigation', async () => {
    const { standin, ctx, step } = await setup(
      undefined,
      healthServes(() => 'not-this-deploy')
    )
    const good = standin.deploys[0]!
    const result = await flagsPhase.run(step, ctx)
    expect(result.status).toBe('succeeded')
    const mitigation = result.details?.mitigation as Mitigation
    expect(mitigation.servedId).toBe(good.id)
    expect(mitigation.failedChecks).toHaveLength(1)
    expect(ctx.log.lines.join('\n')).toMatch(
      new RegExp(
        `warn: flags: after the instant rollback, check health: .*; ${good.id} stays served`
      )
    )
    // The bad deploy was never published again in between.
    expect(standin.requestsTo(/\/restore$/).map(r => r.path.split('/')[6])).toEqual([
      good.id,
      standin.published()!.id
    ])
    expect(standin.published()!.env[KEY]).toBe('false')
    expect(standin.autoPublishing()).toBe(true)
    const journal = {
      startedAt: new Date(mitigation.mitigatedAt! - 1000).toISOString(),
      steps: [{ details: result.details }]
    } as unknown as Journal
    expect(mitigationLine(journal)).toMatch(
      new RegExp(
        `^Instant rollback to ${good.id} after 1.0 s did not pass its checks \\(health: .*\\), so it is not counted as mitigation; durable fix after`
      )
    )
  })

  it('stays within 4 API requests before the first write, which is the restore, with preflight first', async () => {
    const { standin, ctx, step } = await setup()
    await flagsPhase.preflight!([step], ctx)
    const result = await flagsPhase.run(step, ctx)
    expect(result.status).toBe('succeeded')
    const firstWrite = standin.requests.findIndex(r => r.method !== 'GET')
    expect(firstWrite).toBeGreaterThan(0)
    expect(firstWrite).toBeLessThanOrEqual(4)
    expect(standin.requests[firstWrite]!.path).toMatch(/\/restore$/)
  })

  it('a rerun after a crash right after the restore keeps it, builds the branch once, publishes and unlocks', async () => {
    // Two earlier deploys: a rerun that took the restored one for the bad one would go further back.
    const OLDER = 'd'.repeat(40)
    const { standin, ctx, step } = await setup({
      history: 2,
      commits: [OLDER, GOOD, BAD],
      head: HEAD
    })
    const [older, good, bad] = standin.deploys
    const real = ctx.hosting.provider()
    const crashing: HostingProvider = {
      ...real,
      rollBackTo: async (id, ms) => {
        await real.rollBackTo!(id, ms)
        throw new Error('process killed after the restore')
      }
    }
    const first = await flagsPhase.run(step, { ...ctx, hosting: { provider: () => crashing } })
    expect(first.status).toBe('failed')
    expect(standin.published()!.id).toBe(good!.id)
    expect(standin.autoPublishing()).toBe(false)

    const rerun = testContext({ runbook: ctx.runbook, env: { NETLIFY_AUTH_TOKEN: TOKEN } })
    const notes = await flagsPhase.preflight!([step], rerun)
    expect(notes.notes?.[0]?.changes?.[0]).toMatch(
      `production already serves an instant rollback to ${good!.id}`
    )
    expect(notes.notes?.[0]?.changes?.join('\n')).toMatch(`redeploy production from ${bad!.id}`)
    const result = await flagsPhase.run(step, rerun)
    expect(result.status).toBe('succeeded')
    expect(standin.requestsTo(/\/lock$/).map(r => r.path)).toEqual([
      `/api/v1/deploys/${good!.id}/lock`
    ])
    const live = standin.published()!
    expect(standin.deploys.map(d => d.id)).toEqual([older!.id, good!.id, bad!.id, live.id])
    expect(live.commitRef).toBe(HEAD)
    expect(live.env[KEY]).toBe('false')
    expect(standin.autoPublishing()).toBe(true)
  })

  it('`before` the bad commit: serves the deploy built before it, ancestry read in the checkout', async () => {
    const h = badChangeHistory()
    repo = h.repo
    const { standin, ctx, step } = await setup(
      { history: 2, commits: [h.good2, h.bad, h.after], spacingMs: 3_600_000 },
      undefined,
      { before: h.bad.slice(0, 8) },
      h.repo.work
    )
    const [good] = standin.deploys
    const notes = await flagsPhase.preflight!([step], ctx)
    expect(notes.notes?.[0]?.changes?.[0]).toMatch(
      `serve ${good!.id} (built ${new Date(good!.createdAt).toISOString()}) again (built before commit ${h.bad})`
    )
    const result = await flagsPhase.run(step, ctx)
    expect(result.status).toBe('succeeded')
    expect(standin.writes()[0]!.path).toBe(
      `/api/v1/sites/${standin.site.id}/deploys/${good!.id}/restore`
    )
  })
})

describe('auto publishing locked with an unpublished newer deploy', () => {
  it.each([
    ['locked by a person', false],
    ['after our restore', true]
  ] as const)(
    'a redeploy would build that unreleased branch head (%s): refused before anything changes, naming the fix',
    async (_, restoredFirst) => {
      const { standin, ctx, step } = await setup()
      const [good] = standin.deploys
      if (restoredFirst) await ctx.hosting.provider().rollBackTo!(good!.id, 60_000)
      else standin.lockPublishing()
      const before = standin.writes().length
      const pushed = standin.push('e'.repeat(40))
      standin.advance(10)
      expect(pushed.state).toBe('ready')
      const rerun = testContext({ runbook: ctx.runbook, env: { NETLIFY_AUTH_TOKEN: TOKEN } })
      const failure = await flagsPhase.preflight!([step], rerun).catch((e: unknown) => e)
      expect(failure).toBeInstanceOf(RollbackError)
      expect((failure as RollbackError).message).toMatch(
        new RegExp(`newest production deploy ${pushed.id} \\(commit e{40}\\) was never published`)
      )
      expect((failure as RollbackError).hint).toMatch(`Publish ${pushed.id} in the Netlify UI`)
      await expect(flagsPhase.run(step, rerun)).rejects.toThrow(/never published/)
      expect(standin.writes()).toHaveLength(before)
      expect(pushed.publishedAt).toBeUndefined()
    }
  )
})

describe('flags.instant on Netlify: a listing that fails skips the restore, never the durable fix', () => {
  it.each([
    ['a 5xx on every try', 'fault'],
    ['more pages than the cap', 'cap']
  ] as const)('%s: reported as skipped, the fresh build still goes live', async (_, how) => {
    const { standin, ctx, step } = await setup(
      how === 'cap' ? { history: 1000, commits: [], head: HEAD } : undefined,
      undefined,
      how === 'cap' ? { before: '2020-01-01T00:00:00Z' } : true
    )
    const deploys = new RegExp(`/sites/${standin.site.id}/deploys$`)
    if (how === 'fault') standin.failNext(deploys, { times: 5, status: 503 })
    const notes = await flagsPhase.preflight!([step], ctx)
    expect(notes.notes?.[0]?.changes?.[0]).toMatch(
      how === 'fault'
        ? /^instant rollback skipped: the deployments to roll back to could not be listed: .*503/
        : /^instant rollback skipped: .* more than 10 pages.*Give a more recent time/
    )
    const result = await flagsPhase.run(step, ctx, notes.checked?.get(step.id))
    expect(result.status).toBe('succeeded')
    expect((result.details?.mitigation as Mitigation).skipped).toMatch(/could not be listed/)
    // Nothing restored or locked: the fresh build publishes itself.
    expect(standin.requestsTo(/\/(restore|lock)$/)).toHaveLength(0)
    expect(standin.published()!.env[KEY]).toBe('false')
  })
})
