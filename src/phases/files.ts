/**
 * files phase: the seed's "File-Level Rollback" (protect some files, remove others).
 *
 * The split with the git phase: when the git phase runs, IT applies `files.remove` (one commit) and
 * checks `files.protect` in its local sequence, before it pushes, so a revert that would delete a
 * protected file fails with nothing pushed. This phase's step then runs after it and converges:
 * it fetches the pushed branch, removes whatever listed path is still present (normally nothing),
 * re-checks the protected paths, and pushes only if it had to commit. When the git phase is not
 * in the plan (phase filter, no `git` section), this same step does the whole job on its own.
 * Either way it is idempotent: a rerun finds nothing to remove and pushes nothing.
 * Protect/remove overlap (including a removed directory that holds a protected file) is rejected
 * by the runbook schema.
 */
import type { Dependencies } from '../dependencies.js'
import { RollbackError, type PhaseModule, type Step, type StepResult } from '../model.js'
import { applyFileRules, filesStateAt } from '../git/files.js'
import { fileRules, gitAction, type FileRules } from '../git/inputs.js'
import { pushWithLease } from '../git/push.js'
import { requireClean } from '../git/rollback.js'
import { short } from '../git/revert.js'
import { withStepSession as session, type GitSession } from '../git/session.js'
import { requireNothingUntrackedAt } from '../git/untracked.js'

export interface FilesAction {
  remote: string
  branch: string
  rules: FileRules
  /** The branch head the plan was made against: the step refuses a branch that moved since. */
  expectHead?: string
}

type FilesDeps = Pick<Dependencies, 'checkout' | 'run' | 'progress'>

/** Removes and checks on a detached copy of the remote head; pushes when `push` and needed. */
async function apply(
  step: Step<FilesAction>,
  deps: FilesDeps,
  push: boolean,
  expectTip: string | undefined
): Promise<StepResult> {
  return session(
    step,
    deps.checkout,
    async s => {
      await requireClean(s)
      await s.git.checkoutDetached(s.tip)
      const outcome = await applyFileRules(s.git, step.action.rules, deps.run.label)
      const head = outcome.commit ?? s.tip
      const details = { filesRemoved: outcome.removed, filesKept: outcome.kept, remoteHead: s.tip }
      if (!outcome.commit) {
        return { status: 'succeeded', changed: [], outputs: { 'head-sha': s.tip }, details }
      }
      const removed = outcome.removed.map(path => `removed ${path}`)
      if (!push) {
        return { status: 'succeeded', changed: removed.map(l => `drill: would have ${l}`), details }
      }
      const dst = `refs/heads/${s.branch}`
      // The session refused a branch not at expectTip, so the lease is the head the plan saw.
      await pushWithLease(s.git, { remote: s.remote, src: head, dst, expected: expectTip ?? s.tip })
      return {
        status: 'succeeded',
        changed: [...removed, `${s.remote}/${s.branch} is now ${short(head)}`],
        outputs: { 'head-sha': head },
        recovery: [`to restore the removed files: git revert ${short(head)} and push`],
        details
      }
    },
    { expectTip }
  )
}

/**
 * The head the step must find: with a planned head, the one the git step left (it pushed first)
 * or, without one, the planned head itself. Unpinned runs take the branch as they find it.
 */
function startingHead(step: Step<FilesAction>, deps: FilesDeps): string | undefined {
  const pinned = step.action.expectHead
  return pinned && (deps.progress.outputs['head-sha'] ?? pinned)
}

/** Preflight of one step in its session: what it would remove, and what would stop it. */
async function checkStep(s: GitSession, step: Step<FilesAction>, deps: FilesDeps) {
  // The step checks out the remote head in the checkout: nothing untracked may be in the way.
  // Independent reads, so they run at the same time.
  const [, { present, missing }] = await Promise.all([
    requireNothingUntrackedAt(s.git, () => s.git.changedPaths('HEAD', s.tip), s.untracked),
    filesStateAt(s.git, step.action.rules, s.tip)
  ])
  // Without a git step to bring them back, a missing protected file fails the run here, before
  // any phase has changed anything.
  if (missing.length && !deps.progress.plannedPhases.includes('git')) {
    throw new RollbackError(
      `files.protect: ${missing.join(', ')} missing on ${s.remote}/${s.branch}`,
      'restore the file(s) first, or run the git phase that brings them back'
    )
  }
  const changes = present.map(path => `remove ${path} (present on ${s.branch} now)`)
  if (missing.length) changes.push(`protected but missing now: ${missing.join(', ')}`)
  return { stepId: step.id, changes, details: { presentToRemove: present, missing } }
}

export const filesPhase: PhaseModule<FilesAction, keyof FilesDeps> = {
  phase: 'files',
  needs: ['checkout', 'run', 'progress'],
  preflightShares: 'checkout',
  plan(runbook, request) {
    if (runbook.files === undefined) return []
    const { remote, branch, expectHead } = gitAction(runbook, request)
    const rules = fileRules(runbook)
    const changes = [
      ...rules.remove.map(path => `remove ${path} from ${remote}/${branch} if still present`),
      ...(rules.protect.length
        ? [`check that ${rules.protect.length} protected path(s) exist`]
        : [])
    ]
    return [
      {
        id: 'files',
        phase: 'files',
        title: `keep ${rules.protect.length} protected path(s), remove ${rules.remove.length}`,
        changes,
        mutates: rules.remove.length > 0,
        stage: 'main',
        action: { remote, branch, rules, expectHead }
      }
    ]
  },
  async preflight(steps, deps, record) {
    const notes = []
    for (const step of steps) {
      const check = (s: GitSession) => {
        // The git step's preflight records it when that phase runs (it checks the branch first).
        if (!deps.progress.plannedPhases.includes('git')) record?.({ 'branch-head': s.tip })
        return checkStep(s, step, deps)
      }
      notes.push(await session(step, deps.checkout, check, { readUntracked: true }))
    }
    return { notes }
  },
  run: (step, deps) => apply(step, deps, true, startingHead(step, deps)),
  drill: (step, deps) => apply(step, deps, false, step.action.expectHead)
}
