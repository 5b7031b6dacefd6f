/**
 * flags.instant against the Vercel stand-in: the Instant Rollback comes first (and is checked),
 * the durable fix (variables, fresh build, promote) second, automatic production assignment is on
 * again at the end; no qualifying deployment is a warning; the request budget holds.
 */
import { afterEach, describe, expect, it } from '@jest/globals'
import { RollbackError, type Step } from '../src/model.js'
import type { HostingProvider } from '../src/providers/types.js'
import { flagsPhase, type FlagsAction } from '../src/phases/flags.js'
import type { Mitigation } from '../src/phases/flags-instant.js'
import {
  startVercelStandin,
  type VercelStandin,
  type VercelStandinOptions
} from './support/vercel-standin.js'
import { testContext, testRunbook } from './support/context.js'
import { validateRunbook } from '../src/runbook/validate.js'
import { badChangeHistory, type TestRepo } from './support/git.js'

let standin: VercelStandin | undefined
let repo: TestRepo | undefined
afterEach(async () => {
  await standin?.close()
  standin = undefined
  repo?.cleanup()
  repo = undefined
})

const TOKEN = 'vercel-token-instant'
const HOUR = 3_600_000

async function setup(
  options: VercelStandinOptions,
  instant: unknown = true,
  check?: (s: VercelStandin) => Record<string, unknown>,
  workdir?: string
) {
  standin = await startVercelStandin({
    token: TOKEN,
    env: [{ key: 'NEXT_PUBLIC_USE_STREAMING', value: 'true', target: ['production'] }],
    ...options
  })
  const runbook = testRunbook({
    hosting: { provider: 'vercel', project: 'outline-app', 'api-url': standin.url },
    flags: { set: { NEXT_PUBLIC_USE_STREAMING: 'false' }, 'wait-timeout': '2m', instant },
    ...(check ? { verify: { checks: [check(standin)] } } : {})
  })
  const ctx = testContext({
    runbook,
    env: { VERCEL_TOKEN: TOKEN },
    ...(workdir ? { workdir } : {})
  })
  const step = flagsPhase.plan(runbook, ctx.request)[0] as Step<FlagsAction>
  return { standin, ctx, step }
}

const writes = (s: VercelStandin) => s.requests.filter(r => r.method !== 'GET')
const byAge = (s: VercelStandin) => [...s.deployments].sort((a, b) => a.createdAt - b.createdAt)

describe('flags.instant', () => {
  it('rolls back first, checks it, then makes the fix durable and turns auto-assignment back on', async () => {
    const { standin, ctx, step } = await setup(
      { earlier: [{ ageMs: HOUR }], rollbackPolls: 2 },
      true,
      s => ({
        name: 'health',
        url: `${s.url}/app/api/health`,
        'expect-text': byAge(s)[0]!.id,
        timeout: '5s'
      })
    )
    const [earlier, bad] = byAge(standin)
    expect(step.changes[0]).toMatch(/^instant rollback first: serve the one before the live/)
    const result = await flagsPhase.run(step, ctx)
    expect(result.status).toBe('succeeded')
    const [rollback, upsert, build, promote] = writes(standin)
    expect(rollback!.path).toBe(`/v1/projects/${standin.project.id}/rollback/${earlier!.id}`)
    expect(upsert!.path).toMatch(/\/env$/)
    // The durable build is the code that was live before (with the new values), not the old build.
    expect(build).toMatchObject({ path: '/v13/deployments', body: { deploymentId: bad!.id } })
    expect(promote!.path).toMatch(/\/promote\//)
    expect(result.changed[0]).toBe(
      `instant rollback: production serves ${earlier!.id} again (from ${bad!.id})`
    )
    const live = standin.liveDeployment()!
    expect(live.id).not.toBe(earlier!.id)
    expect(live.env.NEXT_PUBLIC_USE_STREAMING).toBe('false')
    expect(standin.autoAssignsProduction()).toBe(true)
    const mitigation = result.details?.mitigation as Mitigation
    expect(mitigation).toMatchObject({ servedId: earlier!.id, failedChecks: [] })
    expect(mitigation.mitigatedAt).toBeLessThanOrEqual(result.details?.durableAt as number)

    const again = await flagsPhase.run(step, ctx)
    expect(again).toMatchObject({ status: 'succeeded', changed: [] })
    expect(writes(standin)).toHaveLength(4)
  })

  it('warns when the rolled-back deployment fails a check and still makes the fix durable', async () => {
    const { standin, ctx, step } = await setup({ earlier: [{ ageMs: HOUR }] }, true, s => ({
      name: 'health',
      url: `${s.url}/app/api/health`,
      'expect-text': 'not-this-deployment',
      timeout: '5s'
    }))
    const result = await flagsPhase.run(step, ctx)
    expect(result.status).toBe('succeeded')
    expect((result.details?.mitigation as Mitigation).failedChecks).toHaveLength(1)
    expect(ctx.log.lines.join('\n')).toMatch(
      /warn: flags: after the instant rollback, check health/
    )
    expect(standin.liveDeployment()!.env.NEXT_PUBLIC_USE_STREAMING).toBe('false')
    expect(standin.autoAssignsProduction()).toBe(true)
  })

  it('without an earlier deployment says so and goes straight to the durable fix', async () => {
    const { standin, ctx, step } = await setup({})
    const result = await flagsPhase.run(step, ctx)
    expect(result.status).toBe('succeeded')
    expect(standin.requestsTo(/\/rollback\//)).toHaveLength(0)
    expect((result.details?.mitigation as Mitigation).skipped).toMatch(/no READY production/)
    expect(ctx.log.lines.join('\n')).toMatch(/warn: flags: instant rollback skipped/)
    expect(standin.liveDeployment()!.env.NEXT_PUBLIC_USE_STREAMING).toBe('false')
  })

  it.each([
    ['refused (402, a Hobby plan rolls back one deployment only)', 'refused'],
    ['ending in a failed alias job', 'failed']
  ] as const)('an Instant Rollback %s warns and still makes the fix durable', async (_, how) => {
    const { standin, ctx, step } = await setup({
      earlier: [{ ageMs: 2 * HOUR }],
      ...(how === 'failed' ? { rollbackOutcome: 'failed' as const } : {})
    })
    if (how === 'refused')
      standin.failNext(/\/rollback\//, {
        status: 402,
        code: 'payment_required',
        message: 'To roll back further than the previous production deployment, upgrade to Pro'
      })
    const result = await flagsPhase.run(step, ctx)
    expect(result.status).toBe('succeeded')
    const mitigation = result.details?.mitigation as Mitigation
    expect(mitigation.servedId).toBeUndefined()
    expect(mitigation.skipped).toMatch(/^the instant rollback to dpl_\w+ did not happen: Vercel/)
    expect(ctx.log.lines.join('\n')).toMatch(/warn: flags: the instant rollback to .* durable fix/)
    expect(standin.liveDeployment()!.env.NEXT_PUBLIC_USE_STREAMING).toBe('false')
    expect(standin.autoAssignsProduction()).toBe(true)
  })

  it('`before` picks the newest deployment created before that time, across list pages', async () => {
    const { standin, ctx, step } = await setup(
      { earlier: [{ ageMs: 3 * HOUR }, { ageMs: 2 * HOUR }, { ageMs: HOUR }], maxPageSize: 1 },
      { before: new Date(Date.now() - 1.5 * HOUR).toISOString() }
    )
    const target = byAge(standin)[1]!
    const result = await flagsPhase.run(step, ctx)
    expect(result.status).toBe('succeeded')
    expect(standin.requestsTo(/\/rollback\//)[0]!.path).toMatch(new RegExp(`${target.id}$`))
    expect(standin.requestsTo('/v6/deployments').length).toBeGreaterThan(1)
  })

  it('stays within 4 API requests before the first write, which is the rollback', async () => {
    const { standin, ctx, step } = await setup({ latencyMs: 20, earlier: [{ ageMs: HOUR }] })
    const result = await flagsPhase.run(step, ctx)
    expect(result.status).toBe('succeeded')
    expect(standin.requestsBeforeFirstWrite().length).toBeLessThanOrEqual(4)
    expect(writes(standin)[0]!.path).toMatch(/\/rollback\//)
  })

  it('preflight and run together still read each entity once: at most 4 requests before the write', async () => {
    const { standin, ctx, step } = await setup({ latencyMs: 20, earlier: [{ ageMs: HOUR }] })
    await flagsPhase.preflight!([step], ctx)
    const result = await flagsPhase.run(step, ctx)
    expect(result.status).toBe('succeeded')
    expect(standin.requestsBeforeFirstWrite().length).toBeLessThanOrEqual(4)
  })

  it('a drill names the deployment it would serve and the build time of the durable fix', async () => {
    const { standin, ctx, step } = await setup({ earlier: [{ ageMs: HOUR, buildMs: 90_000 }] })
    const earlier = byAge(standin)[0]!
    const result = await flagsPhase.drill(step, { ...ctx, run: { ...ctx.run, mode: 'drill' } })
    expect(writes(standin)).toHaveLength(0)
    const details = result.details as {
      wouldChange: string[]
      instantRollbackTo?: string
      buildEstimateMs?: number
    }
    expect(details.wouldChange[0]).toMatch(`serve ${earlier.id}`)
    expect(details.instantRollbackTo).toBe(earlier.id)
    expect(details.buildEstimateMs).toEqual(expect.any(Number))
  })
})

/** A checkout with the bad change (see badChangeHistory), cleaned up after the test. */
function history() {
  const h = badChangeHistory()
  repo = h.repo
  return { ...h, workdir: h.repo.work }
}

describe('flags.instant.before: the bad commit', () => {
  it('serves the newest deployment built from a commit before it: ancestry decides, not time', async () => {
    const h = history()
    const { standin, ctx, step } = await setup(
      {
        earlier: [
          { ageMs: 4.5 * HOUR, commit: h.good1 },
          // Built from a good commit after the bad one was made: it qualifies, by ancestry.
          { ageMs: 1.5 * HOUR, commit: h.good2 },
          { ageMs: HOUR, commit: h.bad }
        ],
        liveCommit: h.after
      },
      { before: h.bad.slice(0, 10) },
      undefined,
      h.workdir
    )
    const target = byAge(standin)[1]!
    expect(step.changes[0]).toContain(`built before commit ${h.bad.slice(0, 10)}`)
    const notes = await flagsPhase.preflight!([step], ctx)
    // The plan shows the commit resolved to its full SHA.
    expect(notes.notes?.[0]?.changes?.[0]).toBe(
      `instant rollback first: serve ${target.id} (built ${new Date(target.createdAt).toISOString()}) again (built before commit ${h.bad}), check it, then the durable fix below`
    )
    const result = await flagsPhase.run(step, ctx)
    expect(result.status).toBe('succeeded')
    expect(standin.requestsTo(/\/rollback\//).map(r => r.path)).toEqual([
      `/v1/projects/${standin.project.id}/rollback/${target.id}`
    ])
  })

  it('falls back to the commit time for a deployment whose commit the checkout does not have', async () => {
    const h = history()
    const unknown = (c: string) => c.repeat(40)
    const { standin, ctx, step } = await setup(
      {
        earlier: [
          { ageMs: 3.5 * HOUR, commit: unknown('a') },
          { ageMs: 2.5 * HOUR, commit: unknown('b') }
        ],
        liveCommit: unknown('c')
      },
      { before: h.bad },
      undefined,
      h.workdir
    )
    const createdBeforeTheCommit = byAge(standin)[0]!
    const result = await flagsPhase.run(step, ctx)
    expect(result.status).toBe('succeeded')
    expect(standin.requestsTo(/\/rollback\//)[0]!.path).toMatch(
      new RegExp(`${createdBeforeTheCommit.id}$`)
    )
  })

  it('the runbook takes a SHA or a time with its zone, and says which when it is neither', () => {
    const problems = (before: string) => {
      const result = validateRunbook({
        version: 1,
        name: 't',
        hosting: { provider: 'vercel', project: 'p' },
        flags: { set: { A: 'b' }, instant: { before } }
      })
      return 'problems' in result
        ? result.problems.map(p => `${p.path.join('.')}: ${p.message}`)
        : []
    }
    expect(problems('3f1c2ab')).toEqual([])
    expect(problems('2026-12-01T14:00:00Z')).toEqual([])
    expect(problems('yesterday')).toContainEqual(
      expect.stringMatching(
        /^flags\.instant\.before: .*the bad commit \(a SHA of 7 to 40 hex digits\) or an ISO 8601 time/
      )
    )
  })

  it('an unknown commit fails preflight with one sentence naming flags.instant.before', async () => {
    const h = history()
    const { standin, ctx, step } = await setup(
      { earlier: [{ ageMs: HOUR }] },
      { before: 'deadbeef12' },
      undefined,
      h.workdir
    )
    const failure = await flagsPhase.preflight!([step], ctx).catch((err: unknown) => err)
    expect(failure).toBeInstanceOf(RollbackError)
    expect((failure as RollbackError).message).toBe(
      'flags.instant.before: commit deadbeef12 is not in the checkout'
    )
    expect((failure as RollbackError).hint).toMatch(/fetch-depth: 0/)
    expect(writes(standin)).toHaveLength(0)
  })
})

/** The run's provider, which dies (as a killed process would) right after `method` returned. */
function crashAfter(real: HostingProvider, method: 'rollBackTo' | 'setEnv' | 'redeploy') {
  const original = real[method] as (...args: unknown[]) => Promise<unknown>
  return {
    ...real,
    [method]: async (...args: unknown[]) => {
      await original(...args)
      throw new Error(`process killed after ${method}`)
    }
  } as HostingProvider
}

describe('flags.instant: a rerun after a crash', () => {
  it.each(['rollBackTo', 'setEnv', 'redeploy'] as const)(
    'killed after %s: the rerun keeps the rollback, builds the bad deployment with the flag once, promotes it',
    async method => {
      const { standin, ctx, step } = await setup({ earlier: [{ ageMs: HOUR }] })
      const [earlier, bad] = byAge(standin)
      const crashing = crashAfter(ctx.hosting.provider(), method)
      const first = await flagsPhase.run(step, { ...ctx, hosting: { provider: () => crashing } })
      expect(first.status).toBe('failed')
      expect(standin.liveDeployment()!.id).toBe(earlier!.id)

      // A new process: nothing of the first run is remembered but what the platform records.
      const rerun = testContext({ runbook: ctx.runbook, env: { VERCEL_TOKEN: TOKEN } })
      const notes = await flagsPhase.preflight!([step], rerun)
      expect(notes.notes?.[0]?.changes?.join('\n')).toMatch(
        method === 'redeploy'
          ? /wait for production deployment dpl_\w+/
          : `instant rollback: production already serves an instant rollback to ${earlier!.id}`
      )
      // A drill now would not roll back further either.
      const drill = await flagsPhase.drill(step, { ...rerun, run: { ...rerun.run, mode: 'drill' } })
      expect(drill.details).not.toHaveProperty('instantRollbackTo')
      const result = await flagsPhase.run(step, rerun)
      expect(result.status).toBe('succeeded')
      expect(standin.requestsTo(/\/rollback\//)).toHaveLength(1)
      const live = standin.liveDeployment()!
      expect(live.sourceId).toBe(bad!.id)
      expect(live.env.NEXT_PUBLIC_USE_STREAMING).toBe('false')
      expect(standin.autoAssignsProduction()).toBe(true)
      // One durable build in all, and nothing rebuilt from the rolled-back deployment.
      expect(standin.deployments.filter(d => d.sourceId !== undefined)).toEqual([live])
    }
  )
})

describe('automatic assignment off without a rollback (production builds staged on purpose)', () => {
  const sources = (s: VercelStandin) =>
    s
      .requestsTo('/v13/deployments', 'POST')
      .map(r => (r.body as { deploymentId?: string }).deploymentId)

  it.each([
    ['without', undefined],
    ['with', true]
  ] as const)(
    '%s flags.instant: rebuilds the served deployment, never the staged unreleased newest build',
    async (_, instant) => {
      const { standin, ctx, step } = await setup({ earlier: [{ ageMs: HOUR }] }, instant)
      const released = standin.liveDeployment()!
      standin.stageProductionBuilds()
      const staged = standin.pushProduction()
      standin.advance(10)
      expect(staged).toMatchObject({ readyState: 'READY', promoted: false })
      const notes = await flagsPhase.preflight!([step], ctx)
      expect(notes.notes?.[0]?.changes?.join('\n')).toMatch(
        `redeploy production from ${released.id}`
      )
      const result = await flagsPhase.run(step, ctx)
      expect(result.status).toBe('succeeded')
      expect(sources(standin)).toEqual([released.id])
      expect(standin.requestsTo(new RegExp(`/${staged.id}$`), 'POST')).toHaveLength(0)
      expect(staged.promoted).toBe(false)
      expect(standin.liveDeployment()!.sourceId).toBe(released.id)
    }
  )

  it("after a person's Instant Rollback and a staged push, rebuilds what production served before the rollback", async () => {
    const { standin, ctx, step } = await setup({ earlier: [{ ageMs: HOUR }] })
    const [earlier, bad] = byAge(standin)
    standin.instantRollback(earlier!.id)
    const staged = standin.pushProduction()
    standin.advance(10)
    const result = await flagsPhase.run(step, ctx)
    expect(result.status).toBe('succeeded')
    expect(standin.requestsTo(/\/rollback\//)).toHaveLength(0)
    expect(sources(standin)).toEqual([bad!.id])
    expect(staged.promoted).toBe(false)
    expect(standin.liveDeployment()!.sourceId).toBe(bad!.id)
  })
})

describe('flags.instant: a listing that fails skips the instant rollback, never the durable fix', () => {
  it.each([
    ['a 5xx on every try', 'fault'],
    ['more pages than the cap', 'cap']
  ] as const)('%s: reported as skipped, the durable fix runs', async (_, how) => {
    const { standin, ctx, step } = await setup(
      how === 'cap'
        ? { earlier: Array.from({ length: 51 }, (_, i) => ({ ageMs: HOUR + i })), maxPageSize: 1 }
        : { earlier: [{ ageMs: HOUR }] },
      how === 'cap' ? { before: '2020-01-01T00:00:00Z' } : true
    )
    if (how === 'fault') standin.failNext('/v6/deployments', { times: 5, status: 502 })
    const reason = how === 'fault' ? /still failing after 5 tries/ : /more than 50 pages/
    const notes = await flagsPhase.preflight!([step], ctx)
    const line = notes.notes?.[0]?.changes?.[0]
    expect(line).toMatch(
      /^instant rollback skipped: the deployments to roll back to could not be listed: /
    )
    expect(line).toMatch(reason)
    const listed = standin.requestsTo('/v6/deployments').length
    const result = await flagsPhase.run(step, ctx, notes.checked?.get(step.id))
    expect(result.status).toBe('succeeded')
    // Not listed again: what preflight found is what the run acts on.
    expect(standin.requestsTo('/v6/deployments')).toHaveLength(listed)
    expect(standin.requestsTo(/\/rollback\//)).toHaveLength(0)
    expect((result.details?.mitigation as Mitigation).skipped).toMatch(reason)
    expect(ctx.log.lines.join('\n')).toMatch(
      /warn: flags: instant rollback skipped: the deployments/
    )
    expect(standin.liveDeployment()!.env.NEXT_PUBLIC_USE_STREAMING).toBe('false')
  })

  it('a run without preflight lists itself, and skips the same way', async () => {
    const { standin, ctx, step } = await setup({ earlier: [{ ageMs: HOUR }] })
    standin.failNext('/v6/deployments', { times: 5, status: 500 })
    const result = await flagsPhase.run(step, ctx)
    expect(result.status).toBe('succeeded')
    expect((result.details?.mitigation as Mitigation).skipped).toMatch(/could not be listed/)
    expect(standin.liveDeployment()!.env.NEXT_PUBLIC_USE_STREAMING).toBe('false')
  })

  it('an error on the durable path (the project read) still refuses', async () => {
    const { standin, ctx, step } = await setup({ earlier: [{ ageMs: HOUR }] })
    standin.failNext(`/v9/projects/outline-app`, { times: 10, status: 500 })
    await expect(flagsPhase.preflight!([step], ctx)).rejects.toThrow(/still failing after 5 tries/)
    expect(writes(standin)).toHaveLength(0)
  })
})

describe('flags.instant: only deployments that served production are rollback targets', () => {
  it('a staged build from a clean commit, newer than every other, is passed over', async () => {
    const h = history()
    const { standin, ctx, step } = await setup(
      { earlier: [{ ageMs: HOUR, commit: h.good1 }], liveCommit: h.bad },
      { before: h.bad },
      undefined,
      h.workdir
    )
    const [earlier] = byAge(standin)
    standin.stageProductionBuilds()
    const staged = standin.pushProduction(h.good2)
    standin.advance(10)
    expect(staged).toMatchObject({ readyState: 'READY', promoted: false })
    const result = await flagsPhase.run(step, ctx)
    expect(result.status).toBe('succeeded')
    expect(standin.requestsTo(/\/rollback\//).map(r => r.path)).toEqual([
      `/v1/projects/${standin.project.id}/rollback/${earlier!.id}`
    ])
    expect(staged.promoted).toBe(false)
  })
})
