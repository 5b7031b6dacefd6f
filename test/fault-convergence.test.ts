/**
 * Fault injection across the run: a run with notify, database and git steps is killed just after
 * step k acted, before the engine recorded it, for every k; a killed process does nothing more, so
 * every later step of that attempt (the closing notice included) dies too. (Killed before step k+1
 * leaves the world as killed after step k does, and killed before the first step is a fresh run:
 * those cases would add only minutes to the suite.)
 * A rerun of the same run converges: the table and the remote end as one clean run leaves them,
 * the revert made once, no row written twice or left behind, every reset row's old value in the
 * backup, the journal of the killed attempt saying what it finished, and exactly one incident
 * issue (on the GitHub stand-in) whose title and last word are the final outcome.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals'
import { cpSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { createStreamingRemote, type StreamingRemote } from '../scripts/fixtures/git-remote.js'
import { backupTableName } from '../src/db/batch-update.js'
import { execute, type Journal } from '../src/engine.js'
import type { GitHubAccess } from '../src/dependencies.js'
import type { GitHubClient } from '../src/github/client.js'
import type { PhaseModule } from '../src/model.js'
import { PHASE_MODULES } from '../src/phases/index.js'
import { buildPlan } from '../src/plan.js'
import type { PhaseName } from '../src/runbook/schema.js'
import { MutationGate } from '../src/util/mutation-gate.js'
import { testContext, testRequest, testRunbook } from './support/context.js'
import { startGitHubStandin, type GitHubStandin } from './support/github-standin.js'
import { git, tempDir } from './support/git.js'
import { queryRows, seededDatabase } from './support/postgres.js'

const LABELS = ['incident', 'rollback']
const TRIGGER_ISSUE = 42
const PHASES: PhaseName[] = ['notify', 'database', 'git']

const runbook = testRunbook({
  name: 'streaming-migration',
  database: {
    steps: [
      {
        name: 'reset stuck sessions',
        'batch-update': {
          table: 'outline_sessions',
          key: 'id',
          set: { is_active: 'false' },
          where: "is_active = true AND status = 'error'",
          // Several batches (the seed has 3,000 sessions), few enough to keep each case short.
          'batch-size': 500
        }
      }
    ]
  },
  git: { remote: 'origin', branch: 'main', strategy: 'revert', 'revert-mode': 'single' },
  notify: { 'status-comment': true, 'incident-issue': { labels: LABELS } }
})

type Fault = 'before' | 'after' | 'during'
/** Where each case kills the process (see the header: `before` adds no state of its own). */
const FAULTS: Fault[] = ['after']
/** Killed while opening the incident issue: GitHub made it, the process never heard back. */
const DURING = 'notify:closing'

class Killed extends Error {}

/**
 * The real phase modules, except that the process "dies" at step `stepId` (`when`): that step
 * and every step after it in the same attempt throw before acting.
 */
function faulty(stepId: string, when: Fault): Record<PhaseName, PhaseModule> {
  let dead = false
  const die = (message: string) => {
    dead = true
    return new Killed(message)
  }
  /** GitHub access whose client dies right after GitHub created an issue. */
  const dyingGitHub = (github: GitHubAccess): GitHubAccess => ({
    ...github,
    client: () => {
      const client = github.client()
      if (!client) return undefined
      return Object.assign(Object.create(client) as GitHubClient, {
        createIssue: async (issue: Parameters<GitHubClient['createIssue']>[0]) => {
          await client.createIssue(issue)
          throw die(`killed during ${stepId}`)
        }
      })
    }
  })
  const wrap = (module: PhaseModule): PhaseModule => ({
    ...module,
    run: async (step, deps, checked) => {
      if (dead) throw new Killed(`the process is dead (${step.id} never ran)`)
      const here = step.id === stepId
      if (here && when === 'before') throw die(`killed before ${step.id}`)
      const during = here && when === 'during'
      const result = await module.run(
        step,
        during ? { ...deps, github: dyingGitHub(deps.github as GitHubAccess) } : deps,
        checked
      )
      // A notification swallows its channels' errors: the kill is re-thrown here.
      if (dead) throw new Killed(`killed during ${step.id}`)
      if (here && when === 'after') throw die(`killed after ${step.id}`)
      return result
    }
  })
  return Object.fromEntries(
    Object.entries(PHASE_MODULES).map(([phase, module]) => [phase, wrap(module)])
  ) as Record<PhaseName, PhaseModule>
}

let github: GitHubStandin
/** The example app's remote, built once; each case works on a copy of it. */
let template: { dir: string; fx: StreamingRemote }
beforeAll(async () => {
  github = await startGitHubStandin({ issues: [TRIGGER_ISSUE] })
  const templateDir = tempDir('fault-template-')
  template = { dir: templateDir, fx: await createStreamingRemote(templateDir) }
}, 120_000)
afterAll(async () => {
  await github?.close()
  if (template) rmSync(template.dir, { recursive: true, force: true })
})

/** A fresh copy of the template's remote in `into`, and a clone of it (as createStreamingRemote). */
function copyOfRemote(into: string): StreamingRemote {
  const remoteDir = join(into, 'remote.git')
  cpSync(template.fx.remoteDir, remoteDir, { recursive: true })
  const remoteUrl = pathToFileURL(remoteDir).href
  const workdir = join(into, 'checkout')
  git(into, 'clone', '--quiet', '--branch', 'main', remoteUrl, workdir)
  return { ...template.fx, remoteDir, remoteUrl, workdir }
}

let dir: string | undefined
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true })
  dir = undefined
})

async function world(runNumber: number) {
  dir = tempDir('fault-')
  const fx = copyOfRemote(dir)
  const dbUrl = await seededDatabase()
  // One workflow run, attempted twice ("Re-run failed jobs"): the same run id and run URL.
  const runId = `fault-${runNumber}`
  const request = testRequest({
    runId,
    revert: fx.streamingRange,
    phases: PHASES,
    trigger: { kind: 'chatops', actor: 'octo-admin', issueNumber: TRIGGER_ISSUE }
  })
  const runUrl = `${github.serverUrl}/${github.owner}/${github.repo}/actions/runs/${runNumber}`
  const journals: Journal[] = []
  const once = (modules: Record<PhaseName, PhaseModule>) => {
    const ctx = testContext({
      workdir: fx.workdir,
      env: { ...process.env, DATABASE_URL: dbUrl },
      secrets: { githubToken: github.token },
      github: {
        apiUrl: github.url,
        serverUrl: github.serverUrl,
        owner: github.owner,
        repo: github.repo,
        runUrl
      },
      runbook,
      request,
      gate: new MutationGate()
    })
    return execute(buildPlan(runbook, request, modules), ctx, {
      modules,
      onJournal: j => void journals.push(structuredClone(j))
    })
  }
  const stuckBefore = await queryRows<{ id: string }>(
    dbUrl,
    "SELECT id::text FROM outline_sessions WHERE is_active AND status = 'error' ORDER BY id"
  )
  const backup = backupTableName('outline_sessions', runId)
  const state = async () => ({
    stuck: (
      await queryRows<{ n: string }>(
        dbUrl,
        "SELECT count(*) AS n FROM outline_sessions WHERE is_active AND status = 'error'"
      )
    )[0]!.n,
    rows: (await queryRows<{ n: string }>(dbUrl, 'SELECT count(*) AS n FROM outline_sessions'))[0]!
      .n,
    // The tree at main against the last good commit: empty once the revert is in.
    diff: git(fx.remoteDir, 'diff', '--stat', fx.goodSha, 'main'),
    reverts: git(fx.remoteDir, 'rev-list', '--count', `${fx.streamingShas.at(-1)}..main`)
  })
  /** Every reset row's old value, once each (the backup is one table per run). */
  const backedUp = () =>
    queryRows<{ id: string; is_active: boolean }>(
      dbUrl,
      `SELECT id::text, is_active FROM ${backup} ORDER BY id`
    )
  const incidentIssues = () =>
    github.issues.filter(i => i.body.includes(`/actions/runs/${runNumber})`))
  return { once, state, stuckBefore, backedUp, incidentIssues, journals }
}

describe('a run killed at any step converges on a rerun, with one incident issue', () => {
  const stepIds = buildPlan(runbook, testRequest({ phases: PHASES })).steps.map(s => s.id)

  it('plans the notices around a database step and a git step', () => {
    expect(stepIds).toEqual([
      'notify:initiated',
      expect.stringMatching(/^database:/),
      'git',
      'notify:closing'
    ])
  })

  let runNumber = 500
  const cases = [
    ...stepIds.flatMap(stepId => FAULTS.map(when => [stepId, when] as const)),
    [DURING, 'during'] as const
  ]
  for (const [stepId, when] of cases) {
    it(`killed ${when} ${stepId}`, async () => {
      const w = await world(++runNumber)
      const rowsBefore = (await w.state()).rows
      const first = await w.once(faulty(stepId, when))
      expect(first.status).toBe('failed')
      expect(first.error?.message).toContain(`killed ${when} ${stepId}`)
      // Nothing the killed attempt finished is missing from the journal it left behind.
      const killedAt = stepIds.indexOf(stepId)
      const lastJournal = w.journals.at(-1)!
      expect(lastJournal.steps.slice(0, killedAt).map(s => s.status)).not.toContain('failed')
      expect(lastJournal.steps.slice(0, killedAt).map(s => s.status)).not.toContain('skipped')

      const rerun = await w.once(PHASE_MODULES)
      expect(rerun.error).toBeUndefined()
      expect(rerun.status).toBe('succeeded')
      expect(await w.state()).toEqual({ stuck: '0', rows: rowsBefore, diff: '', reverts: '1' })
      // Nothing lost: every reset row's old value, once, across both attempts.
      expect(await w.backedUp()).toEqual(w.stuckBefore.map(r => ({ id: r.id, is_active: true })))
      // One incident issue, carrying the final outcome, named by the run's output.
      const issues = w.incidentIssues()
      expect(issues).toHaveLength(1)
      const [issue] = issues
      expect(issue!.title).toMatch(/rollback complete/)
      expect(rerun.outputs['incident-issue']).toBe(issue!.html_url)
      const onIssue = github.comments.filter(c => c.issueNumber === issue!.number)
      const lastWord = onIssue.at(-1)?.body ?? issue!.body
      expect(lastWord).toContain('✅')
      // The trigger's thread ends with the outcome too.
      const status = github.comments.filter(
        c => c.issueNumber === TRIGGER_ISSUE && c.body.includes(`/actions/runs/${runNumber})`)
      )
      expect(status.at(-1)?.body).toContain('✅')
    }, 120_000)
  }
})
