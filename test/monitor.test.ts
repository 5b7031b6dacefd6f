import { afterEach, describe, expect, it } from '@jest/globals'
import { RollbackError, type Step } from '../src/model.js'
import { monitorPhase, type MonitorAction, type Sample } from '../src/phases/monitor.js'
import { startVercelStandin, type VercelStandin } from './support/vercel-standin.js'
import { testContext, testRunbook } from './support/context.js'

// Every stand-in a test started (a test may call setup() more than once): each is closed after it.
const standins: VercelStandin[] = []
afterEach(async () => {
  await Promise.all(standins.splice(0).map(s => s.close()))
})

async function setup(monitor: Record<string, unknown> = {}, env: Record<string, string> = {}) {
  const standin = await startVercelStandin()
  standins.push(standin)
  const runbook = testRunbook({
    monitor: {
      duration: '1m',
      interval: '10s',
      'max-error-rate': 0.2,
      health: [{ name: 'health', url: `${standin.url}/app/api/health` }],
      ...monitor
    }
  })
  const sleeps: number[] = []
  const ctx = testContext({
    runbook,
    env,
    sleep: async ms => {
      sleeps.push(ms)
    }
  })
  const step = monitorPhase.plan(runbook, ctx.request)[0] as Step<MonitorAction>
  return { standin, ctx, step, sleeps }
}

describe('monitor phase', () => {
  it('plans one read-only step even for an empty monitor section', () => {
    const steps = monitorPhase.plan(testRunbook({ monitor: {} }), testContext().request)
    expect(steps).toHaveLength(1)
    expect(steps[0]).toMatchObject({ mutates: false, stage: 'main' })
  })

  it('watches for the whole window at the interval and lists every sample', async () => {
    const { ctx, step, sleeps } = await setup()
    const result = await monitorPhase.run(step, ctx)
    expect(result.status).toBe('succeeded')
    expect(sleeps).toEqual([10000, 10000, 10000, 10000, 10000, 10000])
    const samples = result.details?.samples as Sample[]
    expect(samples).toHaveLength(7)
    expect(samples[6]!.atMs).toBeGreaterThanOrEqual(60000)
    expect(samples.every(s => s.health[0]!.ok && s.health[0]!.status === 200)).toBe(true)
  })

  it('tolerates errors below max-error-rate', async () => {
    const { standin, ctx, step } = await setup()
    standin.failNext('/app/api/health', { status: 502, times: 1 })
    const result = await monitorPhase.run(step, ctx)
    expect(result.status).toBe('succeeded')
    expect(result.details).toMatchObject({ failedProbes: 1, probes: 7 })
  })

  it('fails on an error-rate breach, stopping as soon as it is certain', async () => {
    const { standin, ctx, step, sleeps } = await setup()
    standin.failNext('/app/api/health', { status: 503, times: 1 })
    standin.failNext('/app/api/health', { status: 500, times: 5 })
    const result = await monitorPhase.run(step, ctx)
    expect(result.status).toBe('failed')
    expect(result.error?.message).toMatch(
      /health error rate 100% \(2\/2 probes failed\) exceeds max-error-rate 20% after/
    )
    expect(sleeps).toHaveLength(1)
    const samples = result.details?.samples as Sample[]
    expect(samples.map(s => s.health[0]!.reason)).toEqual([
      'HTTP 503 (expected 200)',
      'HTTP 500 (expected 200)'
    ])
  })

  it('needs a database URL for metrics: preflight names the variable', async () => {
    const { ctx, step } = await setup({ metrics: [{ name: 'active', sql: 'SELECT 1', max: 5 }] })
    await expect(monitorPhase.preflight!([step], ctx)).rejects.toThrow(/DATABASE_URL is not set/)
    await expect(monitorPhase.preflight!([step], ctx)).rejects.toBeInstanceOf(RollbackError)
  })

  it('refuses a metric that is not one read-only SELECT or changes the session, before anything runs', async () => {
    for (const [sql, message] of [
      [
        "SELECT set_config('default_transaction_read_only', 'off', false)",
        /monitor\.metrics\[0\]\.sql: set_config\(\): it is SET by another name/
      ],
      [
        'DELETE FROM t WHERE true',
        /monitor\.metrics\[0\]\.sql must be exactly one read-only SELECT/
      ]
    ] as const) {
      const { ctx, step } = await setup(
        { metrics: [{ name: 'sneaky', sql }] },
        { DATABASE_URL: 'postgres://app@127.0.0.1:1/app' }
      )
      await expect(monitorPhase.preflight!([step], ctx)).rejects.toThrow(message)
    }
  })

  it('masks the database password when it cannot connect', async () => {
    const { ctx, step } = await setup(
      { metrics: [{ name: 'active', sql: 'SELECT 1' }] },
      { DATABASE_URL: 'postgres://app:hunter2-secret@127.0.0.1:1/app' }
    )
    const err = await monitorPhase.run(step, ctx).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RollbackError)
    expect((err as Error).message).toMatch(
      /database unreachable at postgres:\/\/app:\*\*\*@127.0.0.1:1\/app/
    )
    expect((err as Error).message).not.toContain('hunter2-secret')
  })

  it('drill takes one sample and only warns when unhealthy', async () => {
    const { standin, ctx, step, sleeps } = await setup()
    standin.failNext('/app/api/health', { status: 500 })
    const result = await monitorPhase.drill(step, ctx)
    expect(result.status).toBe('warned')
    expect(sleeps).toEqual([])
  })
})
