/**
 * flags.instant against the Vercel stand-in: the Instant Rollback comes first (and is checked),
 * the durable fix (variables, fresh build, promote) second, automatic production assignment is on
 * again at the end; no qualifying deployment is a warning; the request budget holds.
 */
import { afterEach, describe, expect, it } from '@jest/globals'
import type { Step } from '../src/model.js'
import { flagsPhase, type FlagsAction } from '../src/phases/flags.js'
import type { Mitigation } from '../src/phases/flags-instant.js'
import {
  startVercelStandin,
  type VercelStandin,
  type VercelStandinOptions
} from './support/vercel-standin.js'
import { testContext, testRunbook } from './support/context.js'

let standin: VercelStandin | undefined
afterEach(async () => {
  await standin?.close()
  standin = undefined
})

const TOKEN = 'vercel-token-instant'
const HOUR = 3_600_000

async function setup(
  options: VercelStandinOptions,
  instant: unknown = true,
  check?: (s: VercelStandin) => Record<string, unknown>
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
  const ctx = testContext({ runbook, env: { VERCEL_TOKEN: TOKEN } })
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
    expect(rollback!.path).toBe(`/v9/projects/${standin.project.id}/rollback/${earlier!.id}`)
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
