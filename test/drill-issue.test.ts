/**
 * A drill reports on its runbook's one tracking issue (notify.drill-issue), against the GitHub
 * stand-in: created once, updated each week (body and a comment), reopened on failure, found again
 * by its marker when closed, never one per week. And the one-line verdict it carries.
 */
import { afterEach, describe, expect, it } from '@jest/globals'
import type { Journal, StepRecord } from '../src/engine.js'
import type { Step } from '../src/model.js'
import { notifyPhase, type NotifyAction } from '../src/phases/notify/index.js'
import { drillVerdict } from '../src/report/drill-verdict.js'
import { testContext, testRequest, testRunbook } from './support/context.js'
import { startGitHubStandin, type GitHubStandin } from './support/github-standin.js'

const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  while (closers.length) await closers.pop()!()
})

async function standin(): Promise<GitHubStandin> {
  const github = await startGitHubStandin({ issues: [] })
  closers.push(github.close)
  return github
}

/** One weekly drill's closing notice: `verdict` stands in for the report's summary. */
async function weeklyDrill(
  github: GitHubStandin,
  week: number,
  outcome: { failed: boolean; runbook?: string }
) {
  const runbook = testRunbook({
    name: outcome.runbook ?? 'streaming-migration',
    notify: { 'status-comment': false, 'drill-issue': {} }
  })
  const request = testRequest({
    command: 'drill',
    runId: `week-${week}`,
    trigger: { kind: 'schedule', actor: 'github-actions[bot]' }
  })
  const ctx = testContext({
    runbook,
    request,
    mode: 'drill',
    secrets: { githubToken: github.token },
    github: {
      apiUrl: github.url,
      serverUrl: github.serverUrl,
      owner: github.owner,
      repo: github.repo
    },
    summary: () =>
      outcome.failed
        ? `week ${week}: This rollback would NOT work today: git (conflict).`
        : `week ${week}: This rollback would work today, in about 4 minutes.`
  })
  ctx.outputs.status = outcome.failed ? 'failed' : 'running'
  const closing = (notifyPhase.plan(runbook, request) as Step<NotifyAction>[])[1]!
  expect(closing.title).toContain('drill tracking issue [rollback-drill]')
  return notifyPhase.drill(closing, ctx)
}

describe('drill tracking issue', () => {
  it('is created once, then updated each week with a comment and the latest result', async () => {
    const github = await standin()
    const first = await weeklyDrill(github, 1, { failed: false })
    expect(first.changed).toEqual(['drill issue #1 created'])
    expect(github.issues).toHaveLength(1)
    const issue = github.issues[0]!
    expect(issue.labels).toEqual(['rollback-drill'])
    expect(issue.title).toBe('Rollback drill: streaming-migration')
    expect(issue.body).toContain('week 1: This rollback would work today, in about 4 minutes.')

    const second = await weeklyDrill(github, 2, { failed: false })
    const third = await weeklyDrill(github, 3, { failed: false })
    expect(second.changed).toEqual(['drill issue #1 updated'])
    expect(third.changed).toEqual(['drill issue #1 updated'])
    expect(github.issues).toHaveLength(1)
    expect(issue.body).toContain('week 3:')
    expect(issue.body).not.toContain('week 2:')
    expect(github.comments.map(c => [c.issueNumber, c.body.match(/week \d/)?.[0]])).toEqual([
      [1, 'week 2'],
      [1, 'week 3']
    ])
  })

  it('a failed drill reopens the closed issue; a good one leaves it closed', async () => {
    const github = await standin()
    await weeklyDrill(github, 1, { failed: false })
    const issue = github.issues[0]!
    issue.state = 'closed'
    const good = await weeklyDrill(github, 2, { failed: false })
    expect(good.changed).toEqual(['drill issue #1 updated'])
    expect(issue.state).toBe('closed')
    const bad = await weeklyDrill(github, 3, { failed: true })
    expect(bad.changed).toEqual(['drill issue #1 updated and reopened'])
    expect(issue.state).toBe('open')
    expect(issue.body).toContain('week 3: This rollback would NOT work today: git (conflict).')
    expect(github.issues).toHaveLength(1)
  })

  it('one issue per runbook, found by its marker, not by the label alone', async () => {
    const github = await standin()
    github.issues.push({
      number: 1,
      title: 'Drills are noisy',
      body: 'someone else labelled this',
      labels: ['rollback-drill'],
      html_url: `${github.serverUrl}/${github.owner}/${github.repo}/issues/1`,
      state: 'open'
    })
    await weeklyDrill(github, 1, { failed: false, runbook: 'other-app' })
    await weeklyDrill(github, 1, { failed: false })
    await weeklyDrill(github, 2, { failed: false })
    expect(github.issues.map(i => i.title)).toEqual([
      'Drills are noisy',
      'Rollback drill: other-app',
      'Rollback drill: streaming-migration'
    ])
    expect(github.comments.map(c => c.issueNumber)).toEqual([3])
  })
})

function journal(steps: Partial<StepRecord>[], error?: Journal['error']): Journal {
  return {
    command: 'drill',
    runbookName: 'demo',
    severity: 'high',
    status: error ? 'failed' : 'succeeded',
    startedAt: new Date(0).toISOString(),
    steps: steps.map((s, i) => ({
      id: `s${i}`,
      phase: 'git',
      title: `step ${i}`,
      stage: 'main',
      mutates: true,
      planned: [],
      input: {},
      status: 'succeeded',
      changed: [],
      ...s
    })),
    excluded: [],
    outputs: {},
    recovery: [],
    warnings: [],
    error
  }
}

describe('drill verdict', () => {
  it('sums the step durations and the estimated build wait', () => {
    const steps = [
      { durationMs: 30_000 },
      { durationMs: 90_000, details: { buildEstimateMs: 180_000 } },
      { durationMs: undefined, status: 'planned' as const }
    ]
    expect(drillVerdict(journal(steps))).toBe(
      'This rollback would work today, in about 5 minutes, including the wait for a build as long as the last one.'
    )
    expect(drillVerdict(journal([{ durationMs: 2_000 }]))).toBe(
      'This rollback would work today, in about 1 minute.'
    )
  })

  it('names exactly the failing steps', () => {
    const failed = journal([
      { durationMs: 1 },
      {
        status: 'failed',
        title: 'revert a..b on main',
        error: { message: 'git: conflict in x.ts' }
      },
      { status: 'failed', title: 'verify polling' }
    ])
    expect(drillVerdict(failed)).toBe(
      'This rollback would NOT work today: revert a..b on main (git: conflict in x.ts); verify polling.'
    )
    const preflight = journal([], { message: 'database: DATABASE_URL is not set' })
    expect(drillVerdict(preflight)).toBe(
      'This rollback would NOT work today: database: DATABASE_URL is not set.'
    )
    expect(drillVerdict({ ...journal([]), command: 'run' })).toBeUndefined()
  })
})
