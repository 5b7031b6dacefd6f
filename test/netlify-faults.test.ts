/**
 * Fault injection on every Netlify call the flags phase makes: bursts of 429 (with their
 * rate-limit reset), 502 and 503 on generated endpoints. A wait after a 429 is never shorter than
 * the time to its reset, a failed run says why, a clean rerun converges, and no build is ever
 * started twice by a retry.
 */
import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { RollbackError, type Step } from '../src/model.js'
import { flagsPhase, type FlagsAction } from '../src/phases/flags.js'
import { startNetlifyStandin } from './support/netlify-standin.js'
import { testContext, testRunbook } from './support/context.js'

const ENDPOINTS: Array<{ path: RegExp; method: string }> = [
  { path: /^\/api\/v1\/sites\/[^/]+$/, method: 'GET' },
  { path: /^\/api\/v1\/accounts\/[^/]+\/env\/[^/]+$/, method: 'GET' },
  { path: /^\/api\/v1\/accounts\/[^/]+\/env\/[^/]+$/, method: 'PATCH' },
  { path: /^\/api\/v1\/sites\/[^/]+\/builds$/, method: 'POST' },
  { path: /^\/api\/v1\/deploys\/[^/]+$/, method: 'GET' }
]

const faultArb = fc.record({
  endpoint: fc.integer({ min: 0, max: ENDPOINTS.length - 1 }),
  status: fc.constantFrom(429, 502, 503),
  times: fc.integer({ min: 1, max: 3 })
})

describe('flags under 429/5xx bursts on every Netlify call', () => {
  it('never retries before the reset, fails with a reason, never builds twice; a rerun converges', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(faultArb, { minLength: 1, maxLength: 5 }),
        fc.constantFrom(2, 3, 4),
        async (faults, resetIn) => {
          const standin = await startNetlifyStandin({
            env: [
              {
                key: 'NEXT_PUBLIC_USE_STREAMING',
                values: [{ context: 'production', value: 'true' }]
              }
            ]
          })
          try {
            for (const f of faults) {
              const { path, method } = ENDPOINTS[f.endpoint]!
              standin.failNext(path, { method, times: f.times, status: f.status, resetIn })
            }
            const runbook = testRunbook({
              hosting: { provider: 'netlify', project: standin.site.id, 'api-url': standin.apiUrl },
              flags: { set: { NEXT_PUBLIC_USE_STREAMING: 'false' }, 'wait-timeout': '2m' }
            })
            const sleeps: number[] = []
            const ctx = testContext({
              runbook,
              env: { NETLIFY_AUTH_TOKEN: standin.token },
              sleep: async ms => void sleeps.push(ms)
            })
            const step = flagsPhase.plan(runbook, ctx.request)[0] as Step<FlagsAction>
            const first = await flagsPhase.run(step, ctx).catch((err: unknown) => {
              expect(err).toBeInstanceOf(RollbackError)
              return { status: 'failed', error: { message: (err as Error).message } }
            })
            if (first.status === 'failed') expect(first.error?.message).toBeTruthy()
            // After a 429 the wait covers its reset (less the few ms the answer took to arrive).
            const limited = standin.requests.some(r => r.status === 429)
            const resetWaits = sleeps.filter(ms => ms >= resetIn * 1000 - 100)
            if (limited) expect(resetWaits.length).toBeGreaterThan(0)
            standin.clearFaults()
            const again = await flagsPhase.run(step, ctx)
            expect(again.error).toBeUndefined()
            expect(again.status).toBe('succeeded')
            expect(standin.published()!.env.NEXT_PUBLIC_USE_STREAMING).toBe('false')
            const builds = standin.requestsTo(/\/builds$/, 'POST').filter(r => r.status === 200)
            expect(builds.length).toBe(1)
          } finally {
            await standin.close()
          }
        }
      ),
      { numRuns: 20 }
    )
  })
})
