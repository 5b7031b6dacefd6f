/**
 * notify's GitHub calls as a run makes them: the proxy of the step's environment, and the
 * incident-issue lookup of a re-run reading every page of open issues.
 */
import { afterEach, describe, expect, it } from '@jest/globals'
import type { Step } from '../src/model.js'
import { notifyPhase, type NotifyAction } from '../src/phases/notify/index.js'
import { testContext, testRequest, testRunbook } from './support/context.js'
import { startGitHubStandin, type GitHubStandin } from './support/github-standin.js'
import { startProxy } from './support/proxy.js'

const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  while (closers.length) await closers.pop()!()
})

function notifyContext(github: GitHubStandin, apiUrl: string, env: Record<string, string> = {}) {
  const runbook = testRunbook({
    name: 'streaming-migration',
    notify: { 'incident-issue': { labels: ['incident', 'rollback'] } }
  })
  const ctx = testContext({
    runbook,
    request: testRequest({ trigger: { kind: 'chatops', actor: 'octo-admin', issueNumber: 42 } }),
    env,
    secrets: { githubToken: github.token },
    github: {
      apiUrl,
      serverUrl: github.serverUrl,
      owner: github.owner,
      repo: github.repo,
      runUrl: `${github.serverUrl}/${github.owner}/${github.repo}/actions/runs/77`
    },
    summary: () => '| step | status |'
  })
  const steps = notifyPhase.plan(runbook, ctx.request) as Step<NotifyAction>[]
  return { ctx, initiated: steps[0]!, closing: steps[1]! }
}

describe('notify against GitHub', () => {
  it('reaches GitHub through the proxy the step environment names', async () => {
    const github = await startGitHubStandin({ issues: [42] })
    const proxy = await startProxy()
    closers.push(github.close, proxy.close)
    const port = new URL(github.url).port
    // A host only the proxy can reach: the comment exists only if the request went through it.
    const { ctx, initiated } = notifyContext(github, `http://github.test:${port}`, {
      HTTP_PROXY: proxy.url
    })
    const result = await notifyPhase.run(initiated, ctx)
    expect(result.status).toBe('succeeded')
    expect(github.comments.map(c => c.issueNumber)).toEqual([42])
    expect(proxy.tunnels).toEqual([`github.test:${port}`])
  })

  it('a re-run finds its incident issue behind 150 newer ones (second page)', async () => {
    const github = await startGitHubStandin({ issues: [42] })
    closers.push(github.close)
    const first = notifyContext(github, github.url)
    first.ctx.outputs.status = 'failed'
    const opened = await notifyPhase.run(first.closing, first.ctx)
    const issue = opened.outputs?.['incident-issue']
    expect(issue).toBeDefined()
    for (let n = 0; n < 150; n++) {
      const number = 1000 + n
      github.issues.push({
        number,
        title: `Other incident ${n}`,
        body: '',
        labels: ['incident', 'rollback'],
        html_url: `${github.serverUrl}/${github.owner}/${github.repo}/issues/${number}`,
        state: 'open'
      })
    }
    const count = github.issues.length
    const rerun = notifyContext(github, github.url)
    rerun.ctx.outputs.status = 'succeeded'
    const again = await notifyPhase.run(rerun.closing, rerun.ctx)
    expect(again.outputs?.['incident-issue']).toBe(issue)
    expect(github.issues).toHaveLength(count)
    expect(github.requestsTo(/\/issues$/, 'GET').map(r => r.query.page ?? '1')).toEqual([
      '1',
      '1',
      '2'
    ])
  })
})
