/**
 * The 15-minute "still running" update through GitHub: the status comment of a run started from an
 * issue, and the ChatOps reply (which is that run's status comment), are edited in place, never
 * posted again. The real engine and notify phase against the local GitHub stand-in and the real
 * PostgreSQL; the slow step is an integrity check (after the initiated notice) that waits until the test opens a gate, and the
 * clock and the 15-minute timer are the test's.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chatOpsApi } from '../src/chatops/github-api.js'
import { handleComment } from '../src/chatops/run.js'
import { GitHubClient } from '../src/github/client.js'
import type { Trigger } from '../src/model.js'
import { rollback, type RollbackOptions } from '../src/rollback.js'
import { recordingLogger } from './support/context.js'
import { startGitHubStandin, type GitHubStandin } from './support/github-standin.js'
import {
  createTestDatabase,
  installStepGate,
  testDatabaseUrl,
  type StepGate
} from './support/postgres.js'

const QUARTER = 15 * 60_000
let dir: string
let dbUrl: string
let gate: StepGate

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'status-updates-'))
  dbUrl = await createTestDatabase(testDatabaseUrl(), 'er_status')
  gate = await installStepGate(dbUrl)
})

const setGate = (open: boolean) => (open ? gate.open() : gate.close())

function runbook(name: string): string {
  const file = join(dir, `${name}.yml`)
  writeFileSync(
    file,
    [
      'version: 1',
      `name: ${name}`,
      'database:',
      '  url-env: STATUS_DB_URL',
      'integrity:',
      '  - name: gate',
      '    sql: SELECT wait_for_gate()',
      '    expect: { rows: 1 }',
      // After the initiated notice (which posts the status comment): the run is then under way.
      '    when: [after]',
      'notify:',
      '  status-comment: true'
    ].join('\n') + '\n'
  )
  return file
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 60_000) {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(r => setTimeout(r, 50))
  }
}

/** The clock and the timer of a run, driven by the test. */
function drivenClock() {
  const ticks: (() => void)[] = []
  const clock = {
    at: Date.parse('2026-02-01T09:00:00Z'),
    /** The run's log: says when the gated step has started. */
    log: recordingLogger(),
    ticks,
    now: () => clock.at,
    every: (ms: number, fn: () => void) => {
      expect(ms).toBe(QUARTER)
      ticks.push(fn)
      return () => void ticks.splice(ticks.indexOf(fn), 1)
    },
    /** Moves 15 minutes on and fires the timer. */
    quarter() {
      clock.at += QUARTER
      ticks.forEach(tick => tick())
    }
  }
  return clock
}

function runOptions(
  github: GitHubStandin,
  name: string,
  trigger: Trigger,
  clock: ReturnType<typeof drivenClock>
): RollbackOptions {
  return {
    runbookPath: runbook(name),
    inputs: { command: 'run', severity: 'critical', phases: 'integrity,notify' },
    trigger,
    runId: `${name}-1`,
    workdir: dir,
    env: { STATUS_DB_URL: dbUrl },
    secrets: { githubToken: github.token },
    github: {
      apiUrl: github.url,
      serverUrl: github.serverUrl,
      owner: github.owner,
      repo: github.repo,
      runUrl: `${github.serverUrl}/${github.owner}/${github.repo}/actions/runs/5`
    },
    reportPath: join(dir, `${name}.json`),
    log: clock.log,
    now: clock.now,
    every: clock.every
  }
}

const commentWrites = (github: GitHubStandin) =>
  github.requests
    .filter(r => r.method !== 'GET' && r.path.includes('/comments'))
    .map(r => `${r.method} ${r.path.replace(/^\/repos\/[^/]+\/[^/]+/, '')}`)

/** Drives two 15-minute updates while the gated step runs; returns the comment's text each time. */
async function twoUpdates(
  comment: () => { body: string } | undefined,
  clock: ReturnType<typeof drivenClock>
): Promise<string[]> {
  const seen: string[] = []
  await until('the gated step', () =>
    clock.log.lines.some(l => l.includes('▶ integrity:1-gate:after'))
  )
  expect(comment()).toBeDefined()
  for (const minutes of [15, 30]) {
    clock.quarter()
    // The engine leaves out a tick while the previous update is still being sent (its answer may
    // not be back yet when the comment already shows it): fire again until this one is shown.
    let polls = 0
    await until(`the ${minutes}-minute update`, () => {
      if (++polls % 10 === 0) clock.ticks.forEach(tick => tick())
      return (comment()?.body ?? '').includes(`${minutes} minutes so far`)
    })
    seen.push(comment()!.body)
  }
  return seen
}

describe('status updates every 15 minutes, through GitHub', () => {
  let github: GitHubStandin
  beforeAll(async () => {
    github = await startGitHubStandin({
      issues: [42, 7],
      collaborators: { 'octo-oncall': 'write' }
    })
  })
  afterAll(async () => github?.close())

  it('edits the run status comment in place: one comment, no new one per update', async () => {
    await setGate(false)
    const before = github.comments.length
    const writesBefore = commentWrites(github).length
    const clock = drivenClock()
    const running = rollback(
      runOptions(
        github,
        'from-issue',
        { kind: 'other', actor: 'octo-oncall', issueNumber: 42 },
        clock
      )
    )
    const mine = () => github.comments.slice(before)
    const updates = await twoUpdates(() => mine()[0], clock)
    expect(updates[0]).toContain('still running: gate (after), 15 minutes so far')
    expect(updates[1]).toContain('still running: gate (after), 30 minutes so far')
    await setGate(true)
    const outcome = await running
    expect(outcome.journal.status).toBe('succeeded')

    expect(mine()).toHaveLength(1)
    const id = mine()[0]!.id
    expect(mine()[0]!.body).toMatch(/Rollback complete/)
    const writes = commentWrites(github).slice(writesBefore)
    expect(writes[0]).toBe('POST /issues/42/comments')
    // Initiated, two updates (a re-fired tick may add one), closing: every one an edit.
    expect(writes.length).toBeGreaterThanOrEqual(4)
    expect(new Set(writes.slice(1))).toEqual(new Set([`PATCH /issues/comments/${id}`]))
  }, 120_000)

  it('edits the ChatOps reply in place, keeping its header and the steps so far', async () => {
    await setGate(false)
    const client = new GitHubClient({
      apiUrl: github.url,
      token: github.token,
      owner: github.owner,
      repo: github.repo,
      limits: { secondMs: 1 }
    })
    const command = await client.createComment(7, '/rollback run critical phases=integrity,notify')
    const before = github.comments.length
    const clock = drivenClock()
    const handled = handleComment({
      event: {
        action: 'created',
        comment: {
          id: command.id,
          body: command.body,
          user: { login: 'octo-oncall', type: 'User' }
        },
        issue: { number: 7 },
        repository: { default_branch: 'main' }
      },
      api: chatOpsApi(client),
      policy: { minimum: 'write', allow: [] },
      ref: 'refs/heads/main',
      mode: 'run',
      log: recordingLogger(),
      // As the action's entry point runs it: the reply is the run's status comment.
      run: async (inputs, reply) => {
        const outcome = await rollback({
          ...runOptions(
            github,
            'from-chatops',
            { kind: 'chatops', actor: reply.actor, issueNumber: 7 },
            clock
          ),
          inputs,
          initialOutputs: { 'status-comment-id': String(reply.replyId) },
          onProgress: reply.onProgress
        })
        return { status: outcome.journal.status, markdown: outcome.markdown }
      }
    })
    const reply = () => github.comments.slice(before)[0]
    const updates = await twoUpdates(reply, clock)
    for (const [i, body] of updates.entries()) {
      expect(body).toContain(`still running: gate (after), ${15 * (i + 1)} minutes so far`)
      // Still the reply to the command (who asked for what), with the steps so far.
      expect(body).toMatch(/^.*@octo-oncall/)
      expect(body).toContain('| gate (after) |')
    }
    await setGate(true)
    const outcome = await handled
    expect(outcome.status).toBe('succeeded')
    expect(github.comments.slice(before)).toHaveLength(1)
    expect(reply()!.body).not.toContain('still running')
    expect(commentWrites(github).filter(w => w.startsWith('POST /issues/7/comments'))).toHaveLength(
      2
    )
  }, 120_000)
})
