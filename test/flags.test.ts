import { afterEach, describe, expect, it } from '@jest/globals'
import { RollbackError, type Step } from '../src/model.js'
import { flagsPhase, type FlagsAction } from '../src/phases/flags.js'
import type { HostingProvider } from '../src/providers/types.js'
import {
  startVercelStandin,
  type VercelStandin,
  type VercelStandinOptions
} from './support/vercel-standin.js'
import { testContext, testRunbook, type TestContext } from './support/context.js'
import { startProxy } from './support/proxy.js'
import { createFetch, proxySettingsFrom } from '../src/http/index.js'

let standin: VercelStandin | undefined
afterEach(async () => {
  await standin?.close()
  standin = undefined
})

const TOKEN = 'vercel-token-SECRET-4242'

async function setup(
  options: VercelStandinOptions = {},
  over: {
    flags?: Record<string, unknown>
    hosting?: Record<string, unknown>
    env?: Record<string, string>
    fetch?: typeof fetch
  } = {}
) {
  standin = await startVercelStandin({
    token: TOKEN,
    env: [{ key: 'NEXT_PUBLIC_USE_STREAMING', value: 'true', target: ['production'] }],
    ...options
  })
  const runbook = testRunbook({
    hosting: {
      provider: 'vercel',
      project: 'outline-app',
      'api-url': standin.url,
      ...over.hosting
    },
    flags: { set: { NEXT_PUBLIC_USE_STREAMING: 'false' }, 'wait-timeout': '2m', ...over.flags }
  })
  const sleeps: number[] = []
  const ctx = testContext({
    runbook,
    env: over.env ?? { VERCEL_TOKEN: TOKEN },
    fetch: over.fetch,
    sleep: async ms => {
      sleeps.push(ms)
    }
  })
  const step = flagsPhase.plan(runbook, ctx.request)[0] as Step<FlagsAction>
  return { standin, ctx, step, sleeps }
}

const mutating = (s: VercelStandin) => s.requests.filter(r => r.method !== 'GET')

async function preflightError(step: Step<FlagsAction>, ctx: TestContext): Promise<RollbackError> {
  try {
    await flagsPhase.preflight!([step], ctx)
  } catch (err) {
    expect(err).toBeInstanceOf(RollbackError)
    return err as RollbackError
  }
  throw new Error('expected preflight to fail')
}

describe('flags phase', () => {
  it('plans a redeploy for NEXT_PUBLIC_* even when redeploy is false', () => {
    const runbook = testRunbook({
      hosting: { provider: 'vercel', project: 'outline-app' },
      flags: { set: { NEXT_PUBLIC_USE_STREAMING: 'false' }, redeploy: false }
    })
    const [step] = flagsPhase.plan(runbook, testContext().request)
    expect(step).toMatchObject({
      id: 'flags',
      mutates: true,
      stage: 'main',
      action: { redeploy: true }
    })
    expect(step!.changes.join('\n')).toMatch(/set NEXT_PUBLIC_USE_STREAMING=false/)
    expect(flagsPhase.plan(testRunbook(), testContext().request)).toEqual([])
  })

  it('preflight reads current values read-only and makes the plan concrete', async () => {
    const { standin, ctx, step } = await setup()
    const notes = await flagsPhase.preflight!([step], ctx)
    expect(notes.notes?.[0]?.changes?.[0]).toBe(
      'NEXT_PUBLIC_USE_STREAMING (production): true -> false'
    )
    expect(notes.notes?.[0]?.changes?.[1]).toMatch(/redeploy production from dpl_/)
    expect(mutating(standin)).toEqual([])
    // Only the flag's own value is decrypted, never the whole project env.
    expect(standin.requests.some(r => r.query.decrypt === 'true')).toBe(false)
    expect(standin.requestsTo(/^\/v1\/projects\/outline-app\/env\/env_/, 'GET')).toHaveLength(1)
  })

  it('the runbook names the missing hosting section; preflight the missing token variable and a target conflict', async () => {
    // Found with the runbook itself now, before any preflight.
    expect(() => testRunbook({ flags: { set: { A: 'b' } } })).toThrow(
      /hosting: required when `flags` is set: add `hosting: \{ provider: vercel/
    )
    const noToken = await setup({}, { env: {}, hosting: { 'token-env': 'MY_VERCEL_TOKEN' } })
    const e = await preflightError(noToken.step, noToken.ctx)
    expect(e.message).toMatch(/MY_VERCEL_TOKEN/)
    await noToken.standin.close()
    const conflict = await setup({
      env: [{ key: 'NEXT_PUBLIC_USE_STREAMING', value: 'true', target: ['production', 'preview'] }]
    })
    const c = await preflightError(conflict.step, conflict.ctx)
    expect(c.message).toMatch(/ENV_CONFLICT/)
    expect(c.hint).toMatch(/flags.targets to \[production, preview\]/)
    expect(mutating(conflict.standin)).toEqual([])
  })

  it('preflight explains a team project addressed without hosting.team', async () => {
    const { ctx, step } = await setup({ project: { teamId: 'team_acme' } })
    const e = await preflightError(step, ctx)
    expect(e.message).toMatch(/not found/)
    expect(e.hint).toMatch(/hosting.team/)
  })

  it('run records old values, upserts, redeploys until live; the app shows polling mode', async () => {
    const { standin, ctx, step } = await setup()
    const before = standin.liveDeployment()!
    const result = await flagsPhase.run(step, ctx)
    expect(result.status).toBe('succeeded')
    expect(result.recovery?.[0]).toMatch(/NEXT_PUBLIC_USE_STREAMING=true, then redeploy/)
    expect(result.recovery?.[1]).toContain(before.id)
    expect(result.changed[0]).toBe('NEXT_PUBLIC_USE_STREAMING (production): true -> false')
    const live = standin.liveDeployment()!
    expect(live.id).not.toBe(before.id)
    expect(live.env.NEXT_PUBLIC_USE_STREAMING).toBe('false')
    expect(result.outputs?.['deployment-url']).toBe(`https://${live.url}`)
    const page = await fetch(`${standin.url}/app/admin/o3-deep-research-diagnostics`)
    expect(await page.text()).toContain('polling mode')
    const upsert = standin.requestsTo('/v10/projects/outline-app/env', 'POST')[0]!
    expect(upsert.query.upsert).toBe('true')
    expect(upsert.body).toEqual([
      {
        key: 'NEXT_PUBLIC_USE_STREAMING',
        value: 'false',
        type: 'encrypted',
        target: ['production']
      }
    ])
  })

  it('server-side variables with redeploy: false are set without a build', async () => {
    const { standin, ctx, step } = await setup(
      {},
      { flags: { set: { OUTLINE_MODE: 'polling' }, redeploy: false } }
    )
    expect(step.action.redeploy).toBe(false)
    const result = await flagsPhase.run(step, ctx)
    expect(result.status).toBe('succeeded')
    // Created encrypted (Vercel's default type): its value stays out of the report.
    expect(result.changed).toEqual(['OUTLINE_MODE (production): (not set) -> (value hidden)'])
    expect(result.recovery?.[0]).toMatch(/delete OUTLINE_MODE/)
    expect(standin.deployments).toHaveLength(1)
    expect(standin.envs.find(e => e.key === 'OUTLINE_MODE')).toMatchObject({
      type: 'encrypted',
      value: 'polling'
    })
  })

  it('a rerun once converged changes nothing', async () => {
    const { standin, ctx, step } = await setup()
    await flagsPhase.run(step, ctx)
    const count = mutating(standin).length
    const again = await flagsPhase.run(step, ctx)
    expect(again).toMatchObject({ status: 'succeeded', changed: [], details: { unchanged: true } })
    expect(again.outputs?.['deployment-url']).toBeDefined()
    expect(mutating(standin)).toHaveLength(count)
  })

  it('a failed build fails the step with recovery; the rerun redeploys without setting again', async () => {
    const { standin, ctx, step } = await setup()
    standin.nextDeploymentOutcome('ERROR')
    const first = await flagsPhase.run(step, ctx)
    expect(first.status).toBe('failed')
    expect(first.error?.message).toMatch(/ended ERROR/)
    expect(first.recovery?.join('\n')).toMatch(/NEXT_PUBLIC_USE_STREAMING=true/)
    expect(standin.liveDeployment()!.env.NEXT_PUBLIC_USE_STREAMING).toBe('true')
    const upserts = standin.requestsTo(/\/env$/, 'POST').length
    const second = await flagsPhase.run(step, ctx)
    expect(second.status).toBe('succeeded')
    expect(standin.requestsTo(/\/env$/, 'POST')).toHaveLength(upserts)
    expect(standin.liveDeployment()!.env.NEXT_PUBLIC_USE_STREAMING).toBe('false')
  })

  it('a variable among many keeps its old value and undo; a rerun converges', async () => {
    const others = Array.from({ length: 25 }, (_, i) => ({ key: `OTHER_${i}`, value: `v${i}` }))
    const { standin, ctx, step } = await setup({
      pageSize: 10,
      env: [{ key: 'NEXT_PUBLIC_USE_STREAMING', value: 'true' }, ...others]
    })
    const result = await flagsPhase.run(step, ctx)
    expect(result.status).toBe('succeeded')
    expect(result.changed[0]).toBe('NEXT_PUBLIC_USE_STREAMING (production): true -> false')
    expect(result.recovery?.[0]).toMatch(/set NEXT_PUBLIC_USE_STREAMING=true/)
    expect(result.recovery?.join('\n')).not.toMatch(/delete/)
    const writes = mutating(standin).length
    const again = await flagsPhase.run(step, ctx)
    expect(again).toMatchObject({ status: 'succeeded', changed: [] })
    expect(mutating(standin)).toHaveLength(writes)
  })

  it('needs at most 4 API requests before the first write, read concurrently, one decrypt', async () => {
    const others = Array.from({ length: 3 }, (_, i) => ({ key: `OTHER_${i}`, value: `v${i}` }))
    const { standin, ctx, step } = await setup({
      latencyMs: 20,
      env: [{ key: 'NEXT_PUBLIC_USE_STREAMING', value: 'true' }, ...others]
    })
    const result = await flagsPhase.run(step, ctx)
    expect(result.status).toBe('succeeded')
    expect(standin.requestsBeforeFirstWrite().length).toBeLessThanOrEqual(4)
    expect(standin.requestsTo(/^\/v1\/projects\/[^/]+\/env\//)).toHaveLength(1)
    expect(standin.inFlightPeak()).toBeGreaterThanOrEqual(2)
  })

  it('reaches the hosting API through HTTP_PROXY when the entry point passes one', async () => {
    const proxy = await startProxy()
    try {
      const fetch = createFetch(proxySettingsFrom({ HTTP_PROXY: proxy.url }))
      const { standin, ctx, step } = await setup({}, { fetch })
      const result = await flagsPhase.run(step, ctx)
      expect(result.status).toBe('succeeded')
      expect(proxy.tunnels).toContain(new URL(standin.url).host)
    } finally {
      await proxy.close()
    }
  })

  it('honours 429 Retry-After during the upsert and reports 201-with-failures', async () => {
    const { standin, ctx, step, sleeps } = await setup()
    standin.rateLimit('/v10/projects/outline-app/env', { method: 'POST', retryAfter: 9 })
    standin.failEnvKey('NEXT_PUBLIC_USE_STREAMING')
    const result = await flagsPhase.run(step, ctx)
    expect(sleeps[0]).toBeGreaterThanOrEqual(9000)
    expect(sleeps[0]).toBeLessThan(10000)
    expect(result.status).toBe('failed')
    expect(result.error?.message).toMatch(/201 but did not save NEXT_PUBLIC_USE_STREAMING/)
    expect(standin.deployments).toHaveLength(1)
  })

  it('drill checks access read-only and says what it would change', async () => {
    const { standin, ctx, step } = await setup()
    const result = await flagsPhase.drill(step, { ...ctx, run: { ...ctx.run, mode: 'drill' } })
    expect(result.status).toBe('succeeded')
    expect(result.changed).toEqual([])
    expect(result.details?.wouldChange).toContain(
      'NEXT_PUBLIC_USE_STREAMING (production): true -> false'
    )
    expect(mutating(standin)).toEqual([])
  })

  it('drill estimates the build wait from the live production build', async () => {
    const { standin, ctx, step } = await setup()
    const live = standin.deployments[0]!
    live.buildingAt = live.createdAt + 5_000
    live.ready = live.buildingAt + 170_000
    const result = await flagsPhase.drill(step, { ...ctx, run: { ...ctx.run, mode: 'drill' } })
    expect(result.details?.buildEstimateMs).toBe(170_000)
  })

  it('never sends or logs the token except in the Authorization header', async () => {
    const { standin, ctx, step } = await setup()
    const result = await flagsPhase.run(step, ctx)
    for (const r of standin.requests) {
      expect(r.rawBody).not.toContain(TOKEN)
      expect(JSON.stringify(r.query)).not.toContain(TOKEN)
    }
    expect(
      standin.requests
        .filter(r => !r.path.startsWith('/app'))
        .every(r => r.authorization === `Bearer ${TOKEN}`)
    ).toBe(true)
    expect(ctx.log.lines.join('\n')).not.toContain(TOKEN)
    expect(JSON.stringify(result)).not.toContain(TOKEN)
  })
})

describe('flags phase after a crash', () => {
  it('a rerun waits for the build a crashed run started instead of starting another', async () => {
    const { standin, ctx, step } = await setup({ ticks: { building: 20 } })
    // The first run "crashes" while waiting: its wait times out with the build still going.
    const first = await flagsPhase.run(
      { ...step, action: { ...step.action, waitTimeoutMs: 3000 } },
      ctx
    )
    expect(first.status).toBe('failed')
    expect(first.error?.message).toMatch(/not live after/)
    expect(standin.deployments).toHaveLength(2)
    const notes = await flagsPhase.preflight!([step], ctx)
    expect(notes.notes?.[0]?.changes?.[1]).toMatch(
      /wait for production deployment dpl_\w+ \(BUILDING\)/
    )
    const second = await flagsPhase.run(step, ctx)
    expect(second.status).toBe('succeeded')
    expect(standin.deployments).toHaveLength(2)
    expect(standin.liveDeployment()!.env.NEXT_PUBLIC_USE_STREAMING).toBe('false')
  })
})

describe('flags phase after an Instant Rollback', () => {
  it('promotes the new build, because production builds are staged', async () => {
    const { standin, ctx, step } = await setup()
    // Someone already rolled back to an older build in the dashboard.
    await flagsPhase.run(step, ctx)
    standin.setEnv('NEXT_PUBLIC_USE_STREAMING', 'true')
    const older = standin.instantRollback()
    expect(standin.autoAssignsProduction()).toBe(false)
    const notes = await flagsPhase.preflight!([step], ctx)
    expect(notes.notes?.[0]?.changes?.join('\n')).toMatch(/Instant Rollback state/)
    const result = await flagsPhase.run(step, ctx)
    expect(result.status).toBe('succeeded')
    const live = standin.liveDeployment()!
    expect(live.id).not.toBe(older.id)
    expect(live.env.NEXT_PUBLIC_USE_STREAMING).toBe('false')
    expect(
      standin.requestsTo(`/v10/projects/${standin.project.id}/promote/${live.id}`, 'POST')
    ).toHaveLength(1)
    expect(standin.autoAssignsProduction()).toBe(true)
  })
})

describe('values Vercel never returns (sensitive)', () => {
  const options: VercelStandinOptions = {
    env: [{ key: 'OUTLINE_MODE', value: 'streaming', type: 'sensitive', target: ['production'] }]
  }
  const flags = { set: { OUTLINE_MODE: 'polling' }, redeploy: true }
  const builds = (s: VercelStandin) => s.deployments.filter(d => d.sourceId !== undefined)
  const rerun = (ctx: TestContext) =>
    testContext({ runbook: ctx.runbook, env: { VERCEL_TOKEN: TOKEN } })

  it('a rerun after a successful flip writes nothing and builds nothing', async () => {
    const { standin, ctx, step } = await setup(options, { flags })
    const first = await flagsPhase.run(step, ctx)
    expect(first.status).toBe('succeeded')
    expect(standin.liveDeployment()!.env.OUTLINE_MODE).toBe('polling')
    const writes = mutating(standin).length
    const again = await flagsPhase.run(step, rerun(ctx))
    expect(again).toMatchObject({ status: 'succeeded', changed: [] })
    expect(mutating(standin)).toHaveLength(writes)
    expect(builds(standin)).toHaveLength(1)
  })

  it('a rerun after a crash while the build ran waits for that build', async () => {
    // A build long enough to be still on its way when the rerun looks.
    const { standin, ctx, step } = await setup({ ...options, ticks: { building: 30 } }, { flags })
    const real = ctx.hosting.provider()
    const crashing: HostingProvider = {
      ...real,
      redeploy: async (from, meta) => {
        await real.redeploy(from, meta)
        throw new Error('process killed after redeploy')
      }
    }
    expect(
      (await flagsPhase.run(step, { ...ctx, hosting: { provider: () => crashing } })).status
    ).toBe('failed')
    const result = await flagsPhase.run(step, rerun(ctx))
    expect(result.status).toBe('succeeded')
    expect(builds(standin)).toHaveLength(1)
    expect(standin.requestsTo(/\/env$/, 'POST')).toHaveLength(1)
    expect(standin.liveDeployment()!.env.OUTLINE_MODE).toBe('polling')
  })

  it('a value changed in the dashboard after the flip is set and built again', async () => {
    const { standin, ctx, step } = await setup(options, { flags })
    expect((await flagsPhase.run(step, ctx)).status).toBe('succeeded')
    standin.setEnv('OUTLINE_MODE', 'streaming', ['production'], 'sensitive')
    const again = await flagsPhase.run(step, rerun(ctx))
    expect(again.status).toBe('succeeded')
    expect(builds(standin)).toHaveLength(2)
    expect(standin.liveDeployment()!.env.OUTLINE_MODE).toBe('polling')
  })
})
