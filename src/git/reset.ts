/**
 * Option A of the seed: reset the branch to a known-good commit. Guarded: `confirm` must repeat
 * the target SHA, the target must be an ancestor of the branch, the discarded head is pushed to a
 * backup ref first, and the branch moves only with --force-with-lease on the head we saw.
 */
import { RollbackError } from '../util/errors.js'
import type { CommitInfo } from './git-command-manager.js'
import { deepenUntil, type FetchStats } from './history.js'
import {
  checkShaInput,
  confirmMayMatch,
  confirmMismatch,
  refComponent,
  type GitAction
} from './inputs.js'
import { deleteWithLease, pushWithLease } from './push.js'
import { short } from './revert.js'
import type { GitSession } from './session.js'

export interface ResetPlan {
  target: string
  /** Commits the reset takes off the branch, newest first. */
  discarded: CommitInfo[]
  fetch: FetchStats
}

/** The checked `confirm`; undefined only for a plan that was given none (it lists, not runs). */
function confirmation(action: GitAction): string | undefined {
  if (!action.confirmRequired && !action.confirm?.trim()) return undefined
  return checkShaInput('confirm', action.confirm)
}

export async function resolveReset(session: GitSession, action: GitAction): Promise<ResetPlan> {
  const wanted = checkShaInput('reset-to', action.resetTo)
  const confirm = confirmation(action)
  if (confirm && !confirmMayMatch(confirm, wanted)) throw confirmMismatch(confirm, wanted)
  const { git } = session
  const { stats } = await deepenUntil(
    session,
    async () => (await git.revParse(wanted)) !== undefined
  )
  let target = await git.revParse(wanted)
  if (!target && wanted.length === 40) {
    // Not on the branch; maybe elsewhere on the remote (then it is not an ancestor).
    await git.fetch(session.remote, [wanted]).catch(() => undefined)
    target = await git.revParse(wanted)
  }
  if (!target) {
    throw new RollbackError(
      `reset-to: commit ${wanted} not found on ${session.remote}/${session.branch}`,
      'check the SHA: git log --oneline on the branch lists the known-good commits'
    )
  }
  if (confirm && !target.startsWith(confirm)) throw confirmMismatch(confirm, target)
  if (!(await git.isAncestor(target, session.tip))) {
    throw new RollbackError(
      `reset-to: ${short(target)} is not an ancestor of ${session.remote}/${session.branch}`,
      'a reset only goes back along the branch: pick a commit from its history, or use git-strategy revert'
    )
  }
  const discarded = await git.log([session.tip, `^${target}`])
  return { target, discarded, fetch: stats }
}

export function backupRef(action: GitAction, runId: string): string {
  return `${action.backupRefPrefix}/${refComponent(runId)}`
}

/**
 * Pushes the branch's old head to `backup`, then HEAD to the branch with a lease on that head.
 * A lost lease removes the backup again when the old head is still on the branch (the backup only
 * duplicated it), keeps it otherwise, and throws.
 */
export async function backupThenForcePush(session: GitSession, backup: string): Promise<void> {
  const { git, remote, branch, tip } = session
  await pushBackup(session, backup)
  try {
    await pushWithLease(git, { remote, src: 'HEAD', dst: `refs/heads/${branch}`, expected: tip })
  } catch (err) {
    if (await stillOnBranch(session)) {
      await deleteWithLease(git, { remote, dst: backup, expected: tip })
      throw err
    }
    if (!(err instanceof RollbackError)) throw err
    throw new RollbackError(
      `${err.message}; the old head ${short(tip)} is kept at ${backup}`,
      err.hint
    )
  }
}

/**
 * A new backup ref holding the old head. A rerun of the same run finds it already holding that
 * head (fine); a backup ref holding something else is never overwritten.
 */
async function pushBackup(session: GitSession, backup: string): Promise<void> {
  const { git, remote, tip } = session
  try {
    await pushWithLease(git, { remote, src: tip, dst: backup, expected: null })
  } catch (err) {
    const existing = await git.lsRemote(remote, backup).catch(() => undefined)
    if (existing === tip) return
    if (existing === undefined) throw err
    throw new RollbackError(
      `backup ref ${backup} already exists on ${remote} and holds ${short(existing)}, not the head ${short(tip)} to keep; nothing was changed`,
      'keep what it holds (git fetch it), delete it (git push origin :<ref>) or set git.backup-ref-prefix to another prefix, then rerun'
    )
  }
}

/** Whether the old head is still part of the remote branch (so the backup ref is redundant). */
async function stillOnBranch(session: GitSession): Promise<boolean> {
  const { git, remote, branch, tip } = session
  try {
    const ref = `refs/emergency-rollback/lease-check/${branch}`
    await git.fetch(remote, [`+refs/heads/${branch}:${ref}`])
    return await git.isAncestor(tip, ref)
  } catch {
    return false
  }
}
