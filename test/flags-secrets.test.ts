/**
 * Variable values that may be secrets never leave the process: not in the log, the plan, the
 * step's changes and recovery, the journal or its markdown, nor in a request that does not need
 * them; the redactor knows every one of them. Values are drawn as secret-looking strings.
 */
import { afterEach, describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { execute } from '../src/engine.js'
import { buildPlan } from '../src/plan.js'
import { renderMarkdown } from '../src/report/markdown.js'
import { RollbackError, type Step } from '../src/model.js'
import { flagsPhase, type FlagsAction } from '../src/phases/flags.js'
import { startVercelStandin, type VercelStandin } from './support/vercel-standin.js'
import { startNetlifyStandin, type NetlifyStandin } from './support/netlify-standin.js'
import { testContext, testRequest, testRunbook } from './support/context.js'

const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  while (closers.length) await closers.pop()!()
})

// Random text no credential pattern knows: only registering it with the redactor can mask it.
const secret = fc.stringMatching(/^[A-Za-z0-9]{28}$/)
const TOKEN = 'vercel-token-secrets'

describe('secret-looking variable values on Vercel', () => {
  it('appear in no log line, plan, report or request that does not need them', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({ old: secret, preview: secret, next: secret }),
        async ({ old, preview, next }) => {
          const standin: VercelStandin = await startVercelStandin({
            token: TOKEN,
            env: [
              { key: 'NEXT_PUBLIC_USE_STREAMING', value: 'true', target: ['production'] },
              { key: 'STREAM_UPSTREAM', value: old, target: ['production'] },
              { key: 'STREAM_UPSTREAM', value: preview, target: ['preview'] }
            ]
          })
          closers.push(standin.close)
          const runbook = testRunbook({
            hosting: { provider: 'vercel', project: 'outline-app', 'api-url': standin.url },
            flags: {
              set: { NEXT_PUBLIC_USE_STREAMING: 'false', STREAM_UPSTREAM: next },
              'wait-timeout': '2m'
            }
          })
          const request = testRequest()
          const ctx = testContext({ runbook, request, env: { VERCEL_TOKEN: TOKEN } })
          const journal = await execute(buildPlan(runbook, request), ctx)
          expect(journal.error).toBeUndefined()
          expect(standin.liveDeployment()!.env.STREAM_UPSTREAM).toBe(next)

          // What the phase writes itself holds none of them; the report (which also records the
          // runbook's input) is redacted on the way out, as rollback.ts writes it.
          const outputs = [
            ctx.log.lines.join('\n'),
            renderMarkdown(journal),
            ...journal.steps.flatMap(s => [...s.planned, ...(s.changed ?? [])]),
            ...journal.recovery,
            ctx.redactor.redact(JSON.stringify(journal)),
            ...flagsPhase.plan(runbook, request)[0]!.changes
          ].join('\n')
          for (const value of [old, preview, next]) {
            expect(outputs).not.toContain(value)
            expect(ctx.redactor.redact(`x ${value} x`)).toBe('x *** x')
          }
          // The public flag stays readable; the secret one is only said to change.
          expect(outputs).toContain('NEXT_PUBLIC_USE_STREAMING (production): true -> false')
          expect(outputs).toContain('STREAM_UPSTREAM (production): changed (value hidden)')
          expect(journal.recovery.join('\n')).toMatch(
            /restore STREAM_UPSTREAM from your secret store \(its encrypted value is kept out of this report\)/
          )
          // Only the upsert carries a value, and only the new one.
          const carrying = (v: string) =>
            standin.requests.filter(r => JSON.stringify(r.body ?? '').includes(v))
          expect(carrying(old)).toEqual([])
          expect(carrying(preview)).toEqual([])
          expect(carrying(next).map(r => `${r.method} ${r.path}`)).toEqual([
            'POST /v10/projects/outline-app/env'
          ])
          await closers.pop()!()
        }
      ),
      { numRuns: 3 }
    )
  }, 60_000)
})

describe('secret values on Netlify', () => {
  it('a refusal that compares per-target values names no secret value', async () => {
    await fc.assert(
      fc.asyncProperty(secret, async dev => {
        const standin: NetlifyStandin = await startNetlifyStandin({
          token: 'netlify-token-secrets',
          env: [
            {
              key: 'STREAM_UPSTREAM',
              is_secret: true,
              // Secret values are readable in `dev` only: production reads as unreadable.
              values: [
                { context: 'production', value: 'production-value-unreadable' },
                { context: 'dev', value: dev }
              ]
            }
          ]
        })
        closers.push(standin.close)
        const runbook = testRunbook({
          hosting: { provider: 'netlify', project: standin.site.id, 'api-url': standin.apiUrl },
          flags: {
            set: { STREAM_UPSTREAM: 'rotated-upstream' },
            targets: ['production', 'development'],
            redeploy: false
          }
        })
        const ctx = testContext({ runbook, env: { NETLIFY_AUTH_TOKEN: 'netlify-token-secrets' } })
        const step = flagsPhase.plan(runbook, ctx.request)[0] as Step<FlagsAction>
        const failure = await flagsPhase.preflight!([step], ctx).catch((e: unknown) => e)
        expect(failure).toBeInstanceOf(RollbackError)
        const { message, hint } = failure as RollbackError
        expect(message).toMatch(
          /STREAM_UPSTREAM has different values .*production=\(unreadable\), development=\(value hidden\)/
        )
        expect(`${message} ${hint} ${ctx.log.lines.join('\n')}`).not.toContain(dev)
        expect(ctx.redactor.redact(dev)).toBe('***')
        await closers.pop()!()
      }),
      { numRuns: 3 }
    )
  }, 60_000)
})
