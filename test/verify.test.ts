import { afterEach, describe, expect, it } from '@jest/globals'
import { createServer } from 'node:net'
import type { Step } from '../src/model.js'
import { flagsPhase } from '../src/phases/flags.js'
import { verifyPhase, type VerifyAction } from '../src/phases/verify.js'
import { VercelProvider } from '../src/providers/vercel.js'
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

async function setup(options: VercelStandinOptions = {}, verify: Record<string, unknown> = {}) {
  standin = await startVercelStandin({
    env: [{ key: 'NEXT_PUBLIC_USE_STREAMING', value: 'true', target: ['production'] }],
    ...options
  })
  const runbook = testRunbook({
    hosting: { provider: 'vercel', project: 'outline-app', 'api-url': standin.url },
    flags: { set: { NEXT_PUBLIC_USE_STREAMING: 'false' } },
    verify: {
      checks: [
        {
          name: 'diagnostics page shows polling mode',
          url: `${standin.url}/app/admin/o3-deep-research-diagnostics`,
          'expect-text': 'polling mode',
          timeout: '1m',
          interval: '10s'
        }
      ],
      ...verify
    }
  })
  const sleeps: number[] = []
  const ctx = testContext({
    runbook,
    env: { VERCEL_TOKEN: standin.token, PATH: process.env.PATH },
    sleep: async ms => {
      sleeps.push(ms)
    }
  })
  const steps = verifyPhase.plan(runbook, ctx.request) as Step<VerifyAction>[]
  return { standin, ctx, steps, sleeps, runbook }
}

describe('verify phase', () => {
  it('plans one read-only step per check, plus the smoke command', async () => {
    const { steps } = await setup({}, { smoke: { run: 'true' } })
    expect(steps.map(s => [s.id, s.mutates])).toEqual([
      ['verify:diagnostics-page-shows-polling-mode', false],
      ['verify:smoke', false]
    ])
  })

  it('succeeds once the redeploy is live (polls until the text appears)', async () => {
    const { standin, ctx, steps } = await setup({ ticks: { queued: 2, building: 3, alias: 1 } })
    standin.setEnv('NEXT_PUBLIC_USE_STREAMING', 'false')
    const provider = new VercelProvider({
      apiUrl: standin.url,
      token: standin.token,
      project: 'outline-app',
      tokenSource: 'VERCEL_TOKEN',
      fetch,
      clock: { now: () => Date.now(), sleep: async () => {}, random: () => 0 }
    })
    await provider.redeploy((await provider.currentProductionDeployment())!, {})
    const result = await verifyPhase.run(steps[0]!, ctx)
    expect(result.status).toBe('succeeded')
    expect(result.details?.attempts).toBeGreaterThan(1)
    expect(ctx.log.lines.join('\n')).toMatch(/does not contain "polling mode"/)
  })

  it('fails at the timeout with the last status and a snippet when the old build stays live', async () => {
    // The redeploy rebuilt with the source deployment's env: flags "succeeds", verify must not.
    const { standin, ctx, steps, sleeps, runbook } = await setup({ redeployKeepsOldEnv: true })
    const flags = await flagsPhase.run(flagsPhase.plan(runbook, ctx.request)[0]!, ctx)
    expect(flags.status).toBe('succeeded')
    expect(standin.liveDeployment()!.env.NEXT_PUBLIC_USE_STREAMING).toBe('true')
    sleeps.length = 0
    const result = await verifyPhase.run(steps[0]!, ctx)
    expect(result.status).toBe('failed')
    expect(result.error?.message).toMatch(
      /not as expected after 1 min 0 s \(7 attempts\): body does not contain "polling mode"; last response HTTP 200: ".*streaming mode/
    )
    expect(result.error?.hint).toMatch(/VERCEL_FORCE_NO_BUILD_CACHE/)
    expect(sleeps.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(60_000)
  })

  it('with a real sleep, waits the whole configured timeout (sleeps are not counted twice)', async () => {
    const { ctx } = await setup()
    const realSleep = (ms: number) => new Promise<void>(resolve => setTimeout(resolve, ms))
    const timed = testRunbook({
      verify: {
        checks: [
          {
            name: 'never live',
            url: `${standin!.url}/app/admin/o3-deep-research-diagnostics`,
            'expect-text': 'polling mode',
            timeout: '2s',
            interval: '200ms'
          }
        ]
      }
    })
    const step = verifyPhase.plan(timed, ctx.request)[0] as Step<VerifyAction>
    const started = Date.now()
    const result = await verifyPhase.run(step, {
      ...ctx,
      clock: { ...ctx.clock, sleep: realSleep }
    })
    expect(result.status).toBe('failed')
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900)
  })

  it('reports the status code and unreachable hosts as reasons', async () => {
    const { standin, ctx } = await setup()
    const closed = createServer()
    await new Promise<void>(r => closed.listen(0, '127.0.0.1', r))
    const port = (closed.address() as { port: number }).port
    await new Promise(r => closed.close(r))
    const runbook = testRunbook({
      verify: {
        checks: [
          { name: 'health', url: `${standin.url}/app/api/health`, timeout: '10s', interval: '5s' },
          { name: 'down', url: `http://127.0.0.1:${port}/x`, timeout: '1s', interval: '1s' }
        ]
      }
    })
    standin.failNext('/app/api/health', { status: 503, times: 10 })
    const [health, down] = verifyPhase.plan(runbook, ctx.request)
    const r1 = await verifyPhase.run(health!, ctx)
    expect(r1.error?.message).toMatch(/HTTP 503 \(expected 200\)/)
    const r2 = await verifyPhase.run(down!, ctx)
    expect(r2.error?.message).toMatch(/request failed: ECONNREFUSED; last response no response/)
  })

  it('runs the smoke command: exit 0 passes, exit code and timeout fail, secrets masked', async () => {
    const { ctx } = await setup()
    ctx.redactor.add('hosting-secret-xyz')
    const smoke = (run: string, timeoutMs = 10_000): Step<VerifyAction> => ({
      id: 'verify:smoke',
      phase: 'verify',
      title: 'smoke',
      changes: [],
      mutates: false,
      stage: 'main',
      action: { kind: 'smoke', run, timeoutMs, env: [] }
    })
    expect((await verifyPhase.run(smoke('echo ok'), ctx)).status).toBe('succeeded')
    const failed = await verifyPhase.run(smoke('echo using hosting-secret-xyz; exit 3'), ctx)
    expect(failed.error?.message).toMatch(/exited with 3/)
    expect(JSON.stringify(failed)).not.toContain('hosting-secret-xyz')
    const slow = await verifyPhase.run(smoke('sleep 5', 300), ctx)
    expect(slow.error?.message).toMatch(/timed out after 300 ms/)
  })

  it('drill probes once and only warns about a not-yet-rolled-back page', async () => {
    const { ctx, steps, sleeps } = await setup({}, { smoke: { run: 'exit 1' } })
    const drill = { ...ctx, mode: 'drill' as const }
    const r = await verifyPhase.drill(steps[0]!, drill)
    expect(r.status).toBe('warned')
    expect(r.error?.message).toMatch(/reachable, currently body does not contain "polling mode"/)
    expect(sleeps).toEqual([])
    expect((await verifyPhase.drill(steps[1]!, drill)).status).toBe('skipped')
  })
})
