/**
 * Fault injection on every Vercel call the flags phase makes: bursts of 429 (with Retry-After),
 * 502 and 503 on generated endpoints. Whatever happens, a wait after a 429 is never shorter than
 * its Retry-After, a failed run says why, and a clean rerun converges to the runbook's values.
 */
import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { RollbackError, type Step } from '../src/model.js'
import { flagsPhase, type FlagsAction } from '../src/phases/flags.js'
import { startVercelStandin } from './support/vercel-standin.js'
import { testContext, testRunbook } from './support/context.js'

const ENDPOINTS: Array<{ path: RegExp; method: string }> = [
  { path: /^\/v9\/projects\/[^/]+$/, method: 'GET' },
  { path: /^\/v10\/projects\/[^/]+\/env$/, method: 'GET' },
  { path: /^\/v10\/projects\/[^/]+\/env$/, method: 'POST' },
  { path: /^\/v1\/projects\/[^/]+\/env\/[^/]+$/, method: 'GET' },
  { path: /^\/v13\/deployments$/, method: 'POST' },
  { path: /^\/v13\/deployments\/[^/]+$/, method: 'GET' }
]

const faultArb = fc.record({
  endpoint: fc.integer({ min: 0, max: ENDPOINTS.length - 1 }),
  status: fc.constantFrom(429, 502, 503),
  times: fc.integer({ min: 1, max: 3 })
})

describe('flags under 429/5xx bursts on every Vercel call', () => {
  it('never retries sooner than Retry-After, fails with a reason, and a rerun converges', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(faultArb, { minLength: 1, maxLength: 5 }),
        fc.constantFrom(2, 3, 4),
        fc.integer({ min: 1, max: 30 }),
        async (faults, retryAfter, others) => {
          const standin = await startVercelStandin({
            pageSize: 10,
            env: [
              { key: 'NEXT_PUBLIC_USE_STREAMING', value: 'true' },
              ...Array.from({ length: others }, (_, i) => ({ key: `OTHER_${i}`, value: `${i}` }))
            ]
          })
          try {
            for (const f of faults) {
              const { path, method } = ENDPOINTS[f.endpoint]!
              if (f.status === 429) standin.rateLimit(path, { method, times: f.times, retryAfter })
              else standin.failNext(path, { method, times: f.times, status: f.status })
            }
            const runbook = testRunbook({
              hosting: { provider: 'vercel', project: 'outline-app', 'api-url': standin.url },
              flags: { set: { NEXT_PUBLIC_USE_STREAMING: 'false' }, 'wait-timeout': '2m' }
            })
            const sleeps: number[] = []
            const ctx = testContext({
              runbook,
              env: { VERCEL_TOKEN: standin.token },
              sleep: async ms => void sleeps.push(ms)
            })
            const step = flagsPhase.plan(runbook, ctx.request)[0] as Step<FlagsAction>
            // The engine turns a thrown RollbackError into a failed step: either is a failure with a reason.
            const first = await flagsPhase.run(step, ctx).catch((err: unknown) => {
              expect(err).toBeInstanceOf(RollbackError)
              return { status: 'failed', error: { message: (err as Error).message } }
            })
            if (first.status === 'failed') expect(first.error?.message).toBeTruthy()
            // Poll waits are whole seconds from the schedule; any other wait this short would be
            // a retry sooner than the server asked.
            expect(sleeps.filter(ms => ms !== 1000 && ms < retryAfter * 1000)).toEqual([])
            standin.clearFaults()
            const again = await flagsPhase.run(step, ctx)
            expect(again.error).toBeUndefined()
            expect(again.status).toBe('succeeded')
            expect(standin.liveDeployment()!.env.NEXT_PUBLIC_USE_STREAMING).toBe('false')
            const builds = standin
              .requestsTo('/v13/deployments', 'POST')
              .filter(r => r.status === 200)
            expect(builds.length).toBeLessThanOrEqual(2)
          } finally {
            await standin.close()
          }
        }
      ),
      { numRuns: 15 }
    )
  })
})
