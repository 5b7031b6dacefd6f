/**
 * git phase: the seed's "Git Rollback". Option B (`revert`, default) reverts commits newest first
 * and pushes normally; Option A (`reset`) resets to a confirmed known-good ancestor, after pushing
 * the discarded head to a backup ref, with --force-with-lease. The runbook's `files` section is
 * applied in the same local sequence, so protected files are checked BEFORE anything is pushed.
 * See docs/git-phase.md.
 */
import type { Dependencies } from '../dependencies.js'
import { RollbackError, type PhaseModule, type Step, type StepResult } from '../model.js'
import {
  describeAction,
  describeDrillRange,
  gitAction,
  refComponent,
  type GitAction
} from '../git/inputs.js'
import { deleteWithLease, pushWithLease } from '../git/push.js'
import { backupRef, backupThenForcePush } from '../git/reset.js'
import {
  describeResolved,
  details,
  fetchStats,
  prepare,
  requireClean,
  resolve,
  trial,
  type Prepared,
  type Resolved
} from '../git/rollback.js'
import { describeCommit, short } from '../git/revert.js'
import type { FetchStats } from '../git/history.js'
import { withStepSession as session, type GitSession } from '../git/session.js'
import { withDrillRange } from '../git/drill-range.js'
import { headPosition, restoreHead } from '../git/head.js'

type GitDeps = Pick<Dependencies, 'checkout' | 'log' | 'run'>

/** What a step's preflight saw: a reset discards only what was shown and approved. */
export interface GitChecked {
  /** The remote branch head the plan was made against. */
  tip: string
  /** What preflight fetched to deepen a shallow checkout (reported with the run's own). */
  fetch: FetchStats
}

function requireUnmovedForReset(checked: GitChecked | undefined, s: GitSession): void {
  const seen = checked?.tip
  if (seen && seen !== s.tip) {
    throw new RollbackError(
      `branch: ${s.remote}/${s.branch} moved since the checks (${short(seen)} -> ${short(s.tip)}); a reset now would discard commits that were not shown in the plan`,
      'run again to see the new plan (the commits to discard) and confirm it'
    )
  }
}

function changedLines(resolved: Resolved, prepared: Prepared, s: GitSession): string[] {
  const where = `${s.remote}/${s.branch}`
  const lines: string[] = []
  if (resolved.kind === 'revert') {
    for (const c of resolved.revert.targets) lines.push(`reverted ${describeCommit(c)}`)
  } else {
    lines.push(`reset ${where} from ${short(s.tip)} to ${short(resolved.reset.target)}`)
    for (const c of resolved.reset.discarded) lines.push(`discarded ${describeCommit(c)}`)
  }
  for (const path of prepared.files.removed) lines.push(`removed ${path}`)
  lines.push(`${where} is now ${short(prepared.head)}`)
  return lines
}

async function runGit(
  step: Step<GitAction>,
  deps: GitDeps,
  checked: GitChecked | undefined
): Promise<StepResult> {
  const action = step.action
  return session(step, deps.checkout, async s => {
    const resolved = await resolve(s, action, deps.log, checked?.fetch)
    if (resolved.kind === 'reset') requireUnmovedForReset(checked, s)
    const prepared = await prepare(s, action, resolved, deps.run.label)
    if (prepared.upToDate) {
      deps.log.info(`${s.remote}/${s.branch} already matches the rollback result: nothing to push`)
      return {
        status: 'succeeded',
        changed: [],
        outputs: { 'head-sha': s.tip },
        details: details(resolved, prepared, { upToDate: true })
      }
    }
    const dst = `refs/heads/${s.branch}`
    let recovery: string[]
    let backup: string | undefined
    if (resolved.kind === 'reset') {
      backup = backupRef(action, deps.run.request.runId)
      await backupThenForcePush(s, backup)
      deps.log.info(`old head ${short(s.tip)} kept at ${backup}; ${dst} reset with lease`)
      recovery = [
        `discarded commits kept at ${backup} on ${s.remote}: git fetch ${s.remote} ${backup} && git log FETCH_HEAD`,
        `to undo the reset: git push --force-with-lease=${dst}:${prepared.head} ${s.remote} ${s.tip}:${dst}`
      ]
    } else {
      // The session refused a branch that moved from the planned head, so this is that head.
      const expected = action.expectHead ?? s.tip
      await pushWithLease(s.git, { remote: s.remote, src: 'HEAD', dst, expected })
      deps.log.info(`pushed ${short(prepared.head)} to ${s.remote} ${dst}`)
      recovery = [`to undo: git revert ${prepared.commits.map(short).join(' ')} and push`]
    }
    return {
      status: 'succeeded',
      changed: changedLines(resolved, prepared, s),
      outputs: { 'head-sha': prepared.head },
      recovery,
      details: details(resolved, prepared, { backupRef: backup, previousHead: s.tip })
    }
  })
}

async function drillGit(
  step: Step<GitAction>,
  deps: GitDeps,
  checked: GitChecked | undefined
): Promise<StepResult> {
  return session(step, deps.checkout, async s => {
    const found = await headPosition(s.git)
    try {
      return await drillOnScratchRef(s, step.action, deps, checked)
    } finally {
      // The checkout stays where the drill found it, whatever happened.
      if (found) await restoreHead(s.git, found)
    }
  })
}

async function drillOnScratchRef(
  s: GitSession,
  given: GitAction,
  deps: GitDeps,
  checked: GitChecked | undefined
): Promise<StepResult> {
  const action = await withDrillRange(s, given)
  const resolved = await resolve(s, action, deps.log, checked?.fetch)
  const prepared = await prepare(s, action, resolved, deps.run.label)
  // Not under refs/heads: a scratch branch would start push workflows and preview builds.
  const scratch = `refs/rollback/drill/${refComponent(deps.run.request.runId)}`
  await pushWithLease(s.git, { remote: s.remote, src: 'HEAD', dst: scratch, expected: null })
  const target = { remote: s.remote, dst: scratch, expected: prepared.head }
  if (!(await deleteWithLease(s.git, target)))
    deps.log.warn(`could not delete drill branch ${scratch}`)
  return {
    status: 'succeeded',
    changed: [
      `drill: built ${short(prepared.head)} from ${short(s.tip)}, pushed it to ${scratch} and deleted it`,
      ...describeResolved(resolved, s, action)
    ],
    details: details(resolved, prepared, { drillBranch: scratch, upToDate: prepared.upToDate })
  }
}

async function skipped(step: Step<GitAction>, deps: GitDeps): Promise<StepResult> {
  deps.log.warn(`git: skipped, ${step.action.skip}`)
  return { status: 'skipped', changed: [], details: { reason: step.action.skip } }
}

export const gitPhase: PhaseModule<GitAction, keyof GitDeps, GitChecked> = {
  phase: 'git',
  needs: ['checkout', 'log', 'run'],
  preflightShares: 'checkout',
  plan(runbook, request) {
    if (runbook.git === undefined) return []
    const action = gitAction(runbook, request)
    if (action.skip) {
      const title = `git: nothing to roll back (${action.skip})`
      return [
        { id: 'git', phase: 'git', title, changes: [], mutates: false, stage: 'main', action }
      ]
    }
    const title = action.drillRange
      ? `drill: ${action.strategy} ${describeDrillRange(action.drillRange)} of ${action.branch} on a scratch ref`
      : action.strategy === 'reset'
        ? `reset ${action.branch} to ${action.resetTo ?? '?'} (force-with-lease, backup ref first)`
        : `revert ${action.revert ?? '?'} on ${action.branch}`
    return [
      {
        id: 'git',
        phase: 'git',
        title,
        changes: describeAction(action),
        mutates: true,
        stage: 'main',
        action
      }
    ]
  },
  async preflight(steps, deps, record) {
    const notes = []
    const checked = new Map<string, GitChecked>()
    for (const step of steps) {
      if (step.action.skip) continue
      const note = await session(
        step,
        deps.checkout,
        async s => {
          // What the plan is made against, kept even when a check below fails.
          record?.({ 'branch-head': s.tip })
          await requireClean(s)
          const action = await withDrillRange(s, step.action)
          const resolved = await resolve(s, action, deps.log)
          checked.set(step.id, { tip: s.tip, fetch: fetchStats(resolved) })
          const tried = await trial(s, action, resolved, {
            tempDir: deps.checkout.tempDir,
            label: deps.run.label
          })
          const outcome = tried.upToDate
            ? `trial run: ${s.remote}/${s.branch} already matches the result, nothing to push`
            : `trial run: applies cleanly (${tried.commits.length} commit(s)), protected files present`
          return {
            stepId: step.id,
            changes: [...describeResolved(resolved, s, action), outcome],
            details: details(resolved, { ...tried, commits: [] }, { remoteHead: s.tip })
          }
        },
        { readUntracked: true }
      )
      notes.push(note)
    }
    return { notes, checked }
  },
  run: (step, deps, checked) =>
    step.action.skip ? skipped(step, deps) : runGit(step, deps, checked),
  drill: (step, deps, checked) =>
    step.action.skip ? skipped(step, deps) : drillGit(step, deps, checked)
}
