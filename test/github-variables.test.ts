/** flags with provider github-variables: Actions variables + deploy workflow dispatch. */
import { afterEach, describe, expect, it } from '@jest/globals'
import type { Step } from '../src/model.js'
import { flagsPhase, type FlagsAction } from '../src/phases/flags.js'
import { verifyPhase } from '../src/phases/verify.js'
import { validateRunbook } from '../src/runbook/validate.js'
import { startGitHubStandin, type GitHubStandin } from './support/github-standin.js'
import { testContext, testRunbook } from './support/context.js'

let standin: GitHubStandin | undefined
afterEach(async () => {
  await standin?.close()
  standin = undefined
})

async function setup(token: 'pat' | 'github-token' = 'pat') {
  standin = await startGitHubStandin({
    variables: { NEXT_PUBLIC_USE_STREAMING: 'true' },
    runTicks: { queued: 8, inProgress: 2 }
  })
  const runbook = testRunbook({
    hosting: {
      provider: 'github-variables',
      project: `${standin.owner}/${standin.repo}`,
      workflow: 'deploy.yml',
      'token-env': 'ROLLBACK_GH_TOKEN',
      'api-url': standin.url
    },
    flags: { set: { NEXT_PUBLIC_USE_STREAMING: 'false' } },
    verify: {
      checks: [
        {
          name: 'polling',
          url: `${standin.url}/app/admin/o3-deep-research-diagnostics`,
          'expect-text': 'polling mode'
        }
      ]
    }
  })
  const ctx = testContext({
    runbook,
    env: { ROLLBACK_GH_TOKEN: token === 'pat' ? standin.variablesToken : standin.token },
    // Real time passes while the deploy runs, so its start is a later second than the change.
    sleep: () => new Promise(resolve => setTimeout(resolve, 300))
  })
  const step = flagsPhase.plan(runbook, ctx.request)[0] as Step<FlagsAction>
  return { standin, ctx, step, runbook }
}

describe('github-variables provider', () => {
  it('validates the hosting section', () => {
    const problems = (hosting: object) =>
      validateRunbook({
        version: 1,
        name: 'x',
        hosting: { provider: 'github-variables', ...hosting }
      }).problems.map(p => `${p.path.join('.')}: ${p.message}`)
    expect(problems({ project: 'acme/app' })).toEqual([
      'hosting.workflow: required: provider github-variables needs `workflow` (the deploy workflow file, e.g. deploy.yml)'
    ])
    expect(problems({ project: 'app', workflow: 'deploy.yml' })).toEqual([
      'hosting.project: provider github-variables needs `project: owner/repo`'
    ])
    expect(problems({ project: 'acme/app', workflow: 'deploy.yml' })).toEqual([])
  })

  it('sets the variable, dispatches the deploy, waits for the run; verify sees polling mode; a rerun does nothing', async () => {
    const { standin, ctx, step, runbook } = await setup()
    const notes = await flagsPhase.preflight!([step], ctx)
    expect(notes.notes?.[0]?.changes?.[0]).toBe(
      'NEXT_PUBLIC_USE_STREAMING (production): true -> false'
    )
    const result = await flagsPhase.run(step, ctx)
    expect(result.error).toBeUndefined()
    expect(result.status).toBe('succeeded')
    expect(result.recovery?.[0]).toMatch(/NEXT_PUBLIC_USE_STREAMING=true/)
    expect(standin.variables.get('NEXT_PUBLIC_USE_STREAMING')?.value).toBe('false')
    expect(
      standin.requestsTo(/\/actions\/workflows\/deploy.yml\/dispatches$/, 'POST')[0]?.body
    ).toEqual({ ref: 'main' })
    expect(standin.liveRun()?.variables.NEXT_PUBLIC_USE_STREAMING).toBe('false')
    const check = verifyPhase.plan(runbook, ctx.request)[0]!
    expect((await verifyPhase.run(check, ctx)).status).toBe('succeeded')
    const runs = standin.runs.length
    const again = await flagsPhase.run(step, ctx)
    expect(again).toMatchObject({ status: 'succeeded', changed: [] })
    expect(standin.runs).toHaveLength(runs)
  })

  it('GITHUB_TOKEN cannot write variables: preflight passes, the run fails with the fix, nothing deployed', async () => {
    const { standin, ctx, step } = await setup('github-token')
    await flagsPhase.preflight!([step], ctx)
    const result = await flagsPhase.run(step, ctx)
    expect(result.status).toBe('failed')
    expect(result.error?.message).toMatch(/Resource not accessible by integration/)
    expect(result.error?.hint).toMatch(/Variables: write/)
    expect(standin.runs).toHaveLength(1)
  })

  it('a failed deploy run fails the step and says production still runs the previous deploy', async () => {
    const { standin, ctx, step } = await setup()
    standin.nextRunOutcome('failure')
    const result = await flagsPhase.run(step, ctx)
    expect(result.status).toBe('failed')
    expect(result.error?.message).toMatch(/deploy workflow run \d+ ended failure/)
    expect(standin.liveRun()?.variables.NEXT_PUBLIC_USE_STREAMING).toBe('true')
  })

  it('reads the variable list once per step and names the token variable on a 401', async () => {
    const { standin, ctx, step } = await setup()
    await flagsPhase.run(step, ctx)
    const lists = standin.requestsTo(/\/actions\/variables$/, 'GET')
    expect(lists).toHaveLength(1)
    const bad = testContext({
      runbook: ctx.runbook,
      env: { ROLLBACK_GH_TOKEN: 'ghp_not_valid_123' }
    })
    const err = await flagsPhase.preflight!([step], bad).then(
      () => undefined,
      (e: unknown) => e as Error & { hint?: string }
    )
    expect(err?.message).toMatch(/GitHub rejected the token \(401/)
    expect(err?.hint).toMatch(/ROLLBACK_GH_TOKEN/)
    expect(`${err?.message} ${err?.hint}`).not.toContain('ghp_not_valid_123')
  })
})
