import { afterEach, describe, expect, it } from '@jest/globals'
import { RollbackError, type Request, type Step } from '../src/model.js'
import { notifyPhase, type NotifyAction } from '../src/phases/notify/index.js'
import { startGitHubStandin } from './support/github-standin.js'
import { startWebhookSink } from './support/http.js'
import {
  testContext,
  testRequest,
  testRunbook,
  type TestContext,
  type TestContextOptions
} from './support/context.js'

const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  while (closers.length) await closers.pop()!()
})

const SECRETS = {
  githubToken: 'ghs_standin_token',
  hostingToken: 'vercel-hosting-SECRET-777',
  databaseUrl: 'postgres://app:db-pass-SECRET@db.internal:5432/app'
}

async function setup(
  notify: Record<string, unknown> = {},
  over: { github?: boolean; token?: boolean; webhook?: boolean } = {}
) {
  const github = await startGitHubStandin({ issues: [42] })
  const sink = await startWebhookSink()
  closers.push(github.close, sink.close)
  const runbook = testRunbook({
    name: 'streaming-migration',
    notify: {
      'incident-issue': { labels: ['incident', 'rollback'] },
      'webhook-env': 'ROLLBACK_WEBHOOK_URL',
      ...notify
    }
  })
  const options: TestContextOptions = {
    runbook,
    request: testRequest({ trigger: { kind: 'chatops', actor: 'octo-admin', issueNumber: 42 } }),
    env:
      over.webhook === false ? {} : { ROLLBACK_WEBHOOK_URL: `${sink.url}/hooks/T000/SECRETPATH` },
    secrets: over.token === false ? { ...SECRETS, githubToken: undefined } : { ...SECRETS },
    github:
      over.github === false
        ? undefined
        : {
            apiUrl: github.url,
            serverUrl: github.serverUrl,
            owner: github.owner,
            repo: github.repo,
            runUrl: `${github.serverUrl}/acme/outline-app/actions/runs/1`
          },
    // A report that (wrongly) quotes secrets: notify must redact them.
    summary: () =>
      `| step | status |\n|---|---|\n| flags | succeeded |\n\ntoken ${SECRETS.hostingToken} db ${SECRETS.databaseUrl}`
  }
  const ctx = testContext(options)
  /** The same world, seen by another run (a new attempt or a new workflow run). */
  const otherRun = (request: Partial<Request>, runUrl?: string) =>
    testContext({
      ...options,
      request: { ...ctx.request, ...request },
      github: options.github && runUrl ? { ...options.github, runUrl } : options.github
    })
  const [initiated, closing] = notifyPhase.plan(runbook, ctx.request) as Step<NotifyAction>[]
  return { github, sink, ctx, otherRun, initiated: initiated!, closing: closing! }
}

/** Runs the steps as the engine would: outputs merged, status set before each step. */
async function lifecycle(
  ctx: TestContext,
  initiated: Step<NotifyAction>,
  closing: Step<NotifyAction>,
  failed: boolean
) {
  ctx.outputs.status = 'running'
  const first = await notifyPhase.run(initiated, ctx)
  Object.assign(ctx.outputs, first.outputs)
  ctx.outputs.status = failed ? 'failed' : 'running'
  const last = await notifyPhase.run(closing, ctx)
  Object.assign(ctx.outputs, last.outputs)
  return { first, last }
}

describe('notify phase', () => {
  it('plans a before step and a finally step, both non-mutating', async () => {
    const { initiated, closing } = await setup()
    expect([initiated.stage, closing.stage]).toEqual(['before', 'finally'])
    expect([initiated.mutates, closing.mutates]).toEqual([false, false])
  })

  it('comment lifecycle: initiated, then the same comment updated to complete with the report; incident issue; webhook', async () => {
    const { github, sink, ctx, initiated, closing } = await setup()
    const { first, last } = await lifecycle(ctx, initiated, closing, false)
    expect(first.status).toBe('succeeded')
    expect(last.status).toBe('succeeded')
    expect(github.comments).toHaveLength(1)
    const comment = github.comments[0]!
    expect(comment.issueNumber).toBe(42)
    expect(comment.body).toMatch(/### ✅ Rollback complete, system stable/)
    expect(comment.body).toMatch(/\| flags \| succeeded \|/)
    expect(github.requestsTo(/\/issues\/comments\/\d+$/, 'PATCH')).toHaveLength(1)
    const created = github.requestsTo(/\/issues\/42\/comments$/, 'POST')[0]!
    expect((created.body as { body: string }).body).toMatch(/🚨 Rollback initiated/)
    const issue = github.issues.find(i =>
      i.title.startsWith('Incident: streaming-migration rollback complete')
    )!
    expect(issue.labels).toEqual(['incident', 'rollback'])
    expect(issue.body).toMatch(/Post-rollback analysis/)
    expect(ctx.outputs['incident-issue']).toBe(issue.html_url)
    expect(sink.received.map(r => (r.body as { text: string }).text)).toEqual([
      expect.stringMatching(/^Rollback initiated: streaming-migration \(severity critical\)/),
      expect.stringMatching(/^Rollback complete, system stable: .*incident: https/)
    ])
  })

  it('a re-run of the same workflow run reports on the issue its first attempt opened', async () => {
    const { github, ctx, otherRun, initiated, closing } = await setup()
    await lifecycle(ctx, initiated, closing, true)
    const incidents = () => github.issues.filter(i => i.title.startsWith('Incident:'))
    expect(incidents()).toHaveLength(1)
    const first = incidents()[0]!
    expect(first.title).toMatch(/rollback FAILED/)

    // "Re-run failed jobs": the same workflow run (same run URL), a new attempt (new run id).
    const attempt2 = otherRun({ runId: `${ctx.request.runId}-2` })
    const { last } = await lifecycle(attempt2, initiated, closing, false)
    expect(incidents()).toHaveLength(1)
    expect(first.title).toMatch(/rollback complete/)
    expect(last.changed).toContain(
      `incident issue #${first.number} (opened by an earlier attempt) updated`
    )
    const update = github.comments.filter(c => c.issueNumber === first.number)
    expect(update).toHaveLength(1)
    expect(update[0]!.body).toMatch(/✅ Rollback complete, system stable/)
    expect(attempt2.outputs['incident-issue']).toBe(first.html_url)
  })

  it('a new workflow run opens its own incident issue, even while an earlier one is open', async () => {
    const { github, ctx, otherRun, initiated, closing } = await setup()
    await lifecycle(ctx, initiated, closing, false)
    const newRun = otherRun(
      { runId: 'another-run' },
      `${ctx.github.target!.runUrl!.replace(/\d+$/, '')}2`
    )
    await lifecycle(newRun, initiated, closing, false)
    const incidents = github.issues.filter(i => i.title.startsWith('Incident:'))
    expect(incidents).toHaveLength(2)
    expect(newRun.outputs['incident-issue']).toBe(incidents[1]!.html_url)
  })

  it('does not report on another open issue that has the labels', async () => {
    const { github, ctx, initiated, closing } = await setup()
    github.issues.push({
      number: 900,
      title: 'Incident: database outage',
      body: 'written by a person',
      labels: ['incident', 'rollback'],
      html_url: `${github.serverUrl}/acme/outline-app/issues/900`,
      state: 'open'
    })
    await lifecycle(ctx, initiated, closing, false)
    const opened = github.issues.filter(i => i.title.startsWith('Incident: streaming-migration'))
    expect(opened).toHaveLength(1)
    expect(ctx.outputs['incident-issue']).toBe(opened[0]!.html_url)
    expect(github.comments.filter(c => c.issueNumber === 900)).toEqual([])
  })

  it('opens the incident issue even when looking for an earlier one fails (and warns)', async () => {
    const { github, ctx, initiated, closing } = await setup()
    github.forbid(/\/issues$/, { method: 'GET' })
    const { last } = await lifecycle(ctx, initiated, closing, false)
    expect(last.status).toBe('warned')
    expect(last.error?.message).toMatch(/looking for an incident issue of an earlier attempt/)
    expect(github.issues.filter(i => i.title.startsWith('Incident:'))).toHaveLength(1)
    expect(last.changed).toContain('incident issue created')
  })

  it('a failed run turns the comment and the issue into FAILED', async () => {
    const { github, ctx, initiated, closing } = await setup()
    await lifecycle(ctx, initiated, closing, true)
    expect(github.comments[0]!.body).toMatch(/❌ Rollback FAILED: manual action needed/)
    expect(github.issues.some(i => /rollback FAILED/.test(i.title))).toBe(true)
  })

  it('never puts a secret in any request it sends', async () => {
    const { github, sink, ctx, initiated, closing } = await setup()
    await lifecycle(ctx, initiated, closing, false)
    const bodies = [...github.requests, ...sink.received].map(r => r.rawBody).join('\n')
    expect(bodies).toContain('***')
    for (const secret of [
      SECRETS.hostingToken,
      'db-pass-SECRET',
      SECRETS.githubToken,
      'SECRETPATH'
    ])
      expect(bodies).not.toContain(secret)
  })

  it('without GitHub target or token it skips what it cannot do, without failing', async () => {
    const { sink, ctx, initiated, closing } = await setup({}, { token: false })
    const { first, last } = await lifecycle(ctx, initiated, closing, false)
    expect(first.status).toBe('succeeded')
    expect(first.details?.skipped).toEqual([
      'status comment: no GitHub token (the github-token input; $GITHUB_TOKEN for the CLI)'
    ])
    expect(last.details?.skipped).toContain(
      'incident issue: no GitHub token (the github-token input; $GITHUB_TOKEN for the CLI)'
    )
    expect(sink.received).toHaveLength(2)
    const none = await setup({ 'webhook-env': undefined }, { github: false })
    const r = await notifyPhase.run(none.initiated, none.ctx)
    expect(r.status).toBe('skipped')
    expect(r.details?.skipped).toEqual([
      'status comment: no GitHub repository configured ($GITHUB_REPOSITORY=owner/repo for the CLI)'
    ])
  })

  it('a configured webhook variable that is missing is a preflight error naming it', async () => {
    const { ctx, initiated, closing } = await setup({}, { webhook: false })
    const err = await notifyPhase.preflight!([initiated, closing], ctx).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RollbackError)
    expect((err as Error).message).toMatch(/ROLLBACK_WEBHOOK_URL is not set/)
  })

  it('preflight says, before anything changed, that a push-only github-token cannot post', async () => {
    const { github, ctx, initiated, closing } = await setup()
    github.failNext(/\/repos\/acme\/outline-app\/issues$/, {
      status: 403,
      message: 'Resource not accessible by personal access token',
      method: 'GET'
    })
    const found = await notifyPhase.preflight!([initiated, closing], ctx)
    // Only a GET was made: nothing posted to check it.
    expect(github.requests.filter(r => r.method !== 'GET')).toEqual([])
    for (const note of found.notes ?? [])
      expect(note.details?.willFail).toMatch(/GitHub comments and issues will fail.*push-token/)
    expect(found.notes).toHaveLength(2)
    expect(ctx.log.lines.join('\n')).toMatch(/warn: notify preflight: .*personal access token/)
    // A token that can read the issues: nothing to say.
    const fine = await notifyPhase.preflight!([initiated, closing], ctx)
    expect(fine.notes).toEqual([])
  })

  it('a 403 from GitHub only warns: the rollback goes on', async () => {
    const { github, ctx, initiated } = await setup()
    github.forbid(/\/issues\/42\/comments$/)
    const r = await notifyPhase.run(initiated, ctx)
    expect(r.status).toBe('warned')
    expect(r.error?.message).toMatch(/Resource not accessible by integration/)
    expect(r.changed).toEqual(['webhook posted'])
  })

  it('marks runs of an investigate-only severity', async () => {
    const { github, sink, otherRun } = await setup()
    const ctx = otherRun({ severity: 'medium' })
    const [initiated] = notifyPhase.plan(ctx.runbook, ctx.request) as Step<NotifyAction>[]
    await notifyPhase.run(initiated!, ctx)
    expect(github.comments[0]!.body).toMatch(/🚨 \[investigate only\] Rollback initiated/)
    expect((sink.received[0]!.body as { text: string }).text).toMatch(/^\[investigate only\] /)
  })

  it('truncates a report too long for GitHub instead of losing the notice', async () => {
    const { github, ctx, initiated, closing } = await setup()
    ctx.summary = () => 'x'.repeat(100_000)
    const { last } = await lifecycle(ctx, initiated, closing, false)
    expect(last.status).toBe('succeeded')
    expect(github.comments[0]!.body).toMatch(/report truncated/)
    expect(github.comments[0]!.body.length).toBeLessThanOrEqual(65536)
  })

  it('a drill posts only the status comment, marked as a drill', async () => {
    const { github, sink, ctx, initiated, closing } = await setup()
    const drill = { ...ctx, run: { ...ctx.run, mode: 'drill' as const } }
    await notifyPhase.drill(initiated, drill)
    drill.outputs.status = 'running'
    Object.assign(drill.outputs, (await notifyPhase.run(initiated, drill)).outputs)
    const last = await notifyPhase.drill(closing, drill)
    expect(github.comments.at(-1)!.body).toMatch(/\[drill\] Rollback complete/)
    expect(github.issues).toHaveLength(1)
    expect(sink.received).toHaveLength(0)
    expect(last.details?.skipped).toEqual([
      'incident issue: not created in a drill',
      'webhook: not posted in a drill (variable is set)'
    ])
  })
})
