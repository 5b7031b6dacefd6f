/** The hosting phases end to end through the engine, against both stand-ins. */
import { afterEach, describe, expect, it } from '@jest/globals'
import { execute } from '../src/engine.js'
import { buildPlan } from '../src/plan.js'
import { startGitHubStandin } from './support/github-standin.js'
import { startVercelStandin, type VercelStandin } from './support/vercel-standin.js'
import {
  testContext,
  testRequest,
  testRunbook,
  type TestContextOptions
} from './support/context.js'

const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  while (closers.length) await closers.pop()!()
})

async function setup() {
  const vercel = await startVercelStandin({
    token: 'vercel-e2e-SECRET',
    project: { teamId: 'team_acme', teamSlug: 'acme' },
    env: [{ key: 'NEXT_PUBLIC_USE_STREAMING', value: 'true', target: ['production'] }]
  })
  const github = await startGitHubStandin({ issues: [5] })
  closers.push(vercel.close, github.close)
  const runbook = testRunbook({
    name: 'streaming-migration',
    hosting: {
      provider: 'vercel',
      project: 'outline-app',
      team: 'team_acme',
      'api-url': vercel.url
    },
    flags: { set: { NEXT_PUBLIC_USE_STREAMING: 'false' } },
    verify: {
      checks: [
        {
          name: 'polling mode',
          url: `${vercel.url}/app/admin/o3-deep-research-diagnostics`,
          'expect-text': 'polling mode',
          'reject-text': 'streaming mode'
        }
      ]
    },
    monitor: {
      duration: '2m',
      interval: '30s',
      health: [{ name: 'health', url: `${vercel.url}/app/api/health` }]
    },
    notify: { 'incident-issue': {} }
  })
  const request = testRequest({ trigger: { kind: 'chatops', actor: 'octo-admin', issueNumber: 5 } })
  const options: TestContextOptions = {
    runbook,
    request,
    env: { VERCEL_TOKEN: 'vercel-e2e-SECRET' },
    secrets: { githubToken: github.token },
    github: {
      apiUrl: github.url,
      serverUrl: github.serverUrl,
      owner: github.owner,
      repo: github.repo
    },
    summary: () => '| step | status |\n|---|---|'
  }
  const ctx = testContext(options)
  return { vercel, github, ctx, options, plan: buildPlan(runbook, request) }
}

const page = async (vercel: VercelStandin) =>
  (await fetch(`${vercel.url}/app/admin/o3-deep-research-diagnostics`)).text()

describe('flags -> verify -> monitor with notify around them', () => {
  it('rolls the flag back, proves polling mode is live, watches, reports', async () => {
    const { vercel, github, ctx, plan } = await setup()
    expect(await page(vercel)).toContain('streaming mode')
    const journal = await execute(plan, ctx)
    expect(journal.error).toBeUndefined()
    expect(journal.status).toBe('succeeded')
    expect(journal.steps.map(s => [s.id, s.status])).toEqual([
      ['notify:initiated', 'succeeded'],
      ['flags', 'succeeded'],
      ['verify:polling-mode', 'succeeded'],
      ['monitor', 'succeeded'],
      ['notify:closing', 'succeeded']
    ])
    expect(await page(vercel)).toContain('polling mode')
    expect(journal.outputs['deployment-url']).toBe(`https://${vercel.liveDeployment()!.url}`)
    expect(journal.outputs['incident-issue']).toMatch(/\/issues\/6$/)
    expect(journal.recovery.join('\n')).toMatch(/NEXT_PUBLIC_USE_STREAMING=true/)
    expect(github.comments).toHaveLength(1)
    expect(github.comments[0]!.body).toMatch(/Rollback complete, system stable/)
    expect(
      vercel.requests
        .filter(r => !r.path.startsWith('/app'))
        .every(r => r.query.teamId === 'team_acme')
    ).toBe(true)
  })

  it('a failed build stops the run; the closing notice still says FAILED', async () => {
    const { vercel, github, ctx, plan } = await setup()
    vercel.nextDeploymentOutcome('ERROR')
    const journal = await execute(plan, ctx)
    expect(journal.status).toBe('failed')
    expect(journal.steps.map(s => [s.id, s.status])).toEqual([
      ['notify:initiated', 'succeeded'],
      ['flags', 'failed'],
      ['verify:polling-mode', 'skipped'],
      ['monitor', 'skipped'],
      ['notify:closing', 'succeeded']
    ])
    expect(journal.error?.message).toMatch(/flags: deployment dpl_\w+ ended ERROR/)
    expect(github.comments[0]!.body).toMatch(/Rollback FAILED/)
  })

  it('a wrong token fails preflight: nothing changes, only the closing notice says so', async () => {
    const { vercel, github, options, plan } = await setup()
    const journal = await execute(
      plan,
      testContext({ ...options, env: { VERCEL_TOKEN: 'nope-nope' } })
    )
    expect(journal.status).toBe('failed')
    expect(journal.error?.message).toMatch(/flags: Vercel rejected the token/)
    expect(vercel.requests.filter(r => r.method !== 'GET')).toEqual([])
    expect(journal.steps.filter(s => s.status !== 'skipped').map(s => s.id)).toEqual([
      'notify:closing'
    ])
    expect(github.comments).toHaveLength(1)
    expect(github.comments[0]!.body).toContain('Rollback FAILED')
    expect(github.comments[0]!.body).not.toContain('initiated')
  })
})
