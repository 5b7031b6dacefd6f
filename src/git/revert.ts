/**
 * Option B of the seed: revert commits. Resolves which commits to revert (newest first), skips the
 * ones already reverted on the branch (so a rerun never reverts twice), and applies the reverts
 * locally; a conflict restores the working tree and names the conflicting paths.
 */
import { RollbackError } from '../util/errors.js'
import type { CommitInfo, GitCommandManager } from './git-command-manager.js'
import { deepenUntil, type FetchStats } from './history.js'
import { parseRevertSpec, type GitAction, type RevertSpec } from './inputs.js'
import type { GitSession } from './session.js'

export interface RevertPlan {
  /** Commits to revert, newest first. */
  targets: CommitInfo[]
  /** Commits of the request already reverted on the branch (sha -> reverting commit). */
  skipped: { commit: CommitInfo; by: string }[]
  fetch: FetchStats
}

export const short = (sha: string) => sha.slice(0, 7)
export const describeCommit = (c: CommitInfo) => `${short(c.sha)} ${c.subject}`

function wantedRevs(spec: RevertSpec): string[] {
  return spec.kind === 'range' ? [spec.from, spec.to] : spec.shas
}

async function allPresent(git: GitCommandManager, spec: RevertSpec): Promise<boolean> {
  for (const rev of wantedRevs(spec)) if (!(await git.revParse(rev))) return false
  // A listed commit needs its parent to be reverted; at a shallow boundary it has none.
  if (spec.kind === 'list')
    for (const rev of spec.shas) if (!(await git.revParse(`${rev}^`))) return false
  return true
}

export async function resolveRevert(session: GitSession, action: GitAction): Promise<RevertPlan> {
  const spec = parseRevertSpec(action.revert)
  const { git } = session
  const { stats } = await deepenUntil(session, () => allPresent(git, spec))
  for (const rev of wantedRevs(spec)) {
    if (!(await git.revParse(rev))) {
      throw new RollbackError(
        `revert: commit ${rev} is not in the history of ${session.remote}/${session.branch}`,
        'check the SHA (git log --oneline on the branch); only commits of the branch can be reverted'
      )
    }
  }
  const ordered =
    spec.kind === 'range'
      ? await rangeCommits(session, spec, action)
      : await listCommits(session, spec)
  refuseUnhandledMerges(ordered, action)
  const reverted = await alreadyReverted(git, session.tip, ordered.at(-1)!.sha)
  // A revert inside the request of a commit also in it: the pair cancels, revert neither.
  const inRequest = new Set(ordered.map(c => c.sha))
  for (const [target, by] of reverted)
    if (inRequest.has(target) && inRequest.has(by)) reverted.set(by, target)
  const skipped = ordered.flatMap(commit => {
    const by = reverted.get(commit.sha)
    return by ? [{ commit, by }] : []
  })
  return { targets: ordered.filter(c => !reverted.has(c.sha)), skipped, fetch: stats }
}

async function rangeCommits(
  session: GitSession,
  spec: Extract<RevertSpec, { kind: 'range' }>,
  action: GitAction
): Promise<CommitInfo[]> {
  const { git } = session
  const range = `${spec.from}..${spec.to}`
  if (!(await git.isAncestor(spec.from, spec.to))) {
    throw new RollbackError(
      `revert: bad range ${range}: ${short(spec.from)} is not an ancestor of ${short(spec.to)}`,
      'write the range OLD..NEW: OLD is the last good commit (kept), NEW the newest commit to revert'
    )
  }
  await requireOnBranch(session, spec.to)
  // With a mainline, merges are reverted against it and their merged side comes with them.
  const commits = await git.log([range], { firstParent: action.mainline !== undefined })
  if (commits.length === 0) {
    throw new RollbackError(`revert: range ${range} is empty`, 'OLD must be older than NEW')
  }
  return commits
}

async function listCommits(
  session: GitSession,
  spec: Extract<RevertSpec, { kind: 'list' }>
): Promise<CommitInfo[]> {
  const { git } = session
  const shas: string[] = []
  for (const rev of spec.shas) {
    const sha = (await git.revParse(rev))!
    await requireOnBranch(session, sha)
    shas.push(sha)
  }
  const base = (await git.mergeBase(shas))!
  // Branch order (newest first) of everything between the oldest listed commit and the tip.
  const history = [...(await git.log([session.tip, `^${base}`])), ...(await git.log(['-1', base]))]
  const wanted = new Set(shas)
  return history.filter(c => wanted.has(c.sha))
}

async function requireOnBranch(session: GitSession, sha: string): Promise<void> {
  if (!(await session.git.isAncestor(sha, session.tip))) {
    throw new RollbackError(
      `revert: commit ${short(sha)} is not on ${session.remote}/${session.branch}`,
      'only commits that are part of the branch can be reverted; check the SHA and the branch'
    )
  }
}

function refuseUnhandledMerges(commits: CommitInfo[], action: GitAction): void {
  const merge = commits.find(c => c.parents.length > 1)
  if (!merge || action.mainline !== undefined) return
  throw new RollbackError(
    `revert: ${describeCommit(merge)} is a merge commit and needs a mainline parent`,
    'set git.mainline: 1 in the runbook to revert merges against the branch they were merged into, or list the merged commits instead of the merge'
  )
}

/** Commits reverted after `oldest` on the branch, by their reverting commit (reverts of reverts cancel). */
export async function alreadyReverted(
  git: GitCommandManager,
  tip: string,
  oldest: string
): Promise<Map<string, string>> {
  const revertsOf = new Map<string, string[]>()
  for (const { sha, body } of await git.messages([tip, `^${oldest}`])) {
    const targets = [...body.matchAll(/This reverts commit ([0-9a-f]{40})/g)].map(m => m[1]!)
    if (targets.length > 0) revertsOf.set(sha, targets)
  }
  const undone = new Set([...revertsOf.values()].flat())
  const reverted = new Map<string, string>()
  for (const [by, targets] of revertsOf) {
    if (undone.has(by)) continue
    for (const target of targets) if (!reverted.has(target)) reverted.set(target, by)
  }
  return reverted
}

/**
 * Batches of commits one `git revert` can take: all of them in single mode without merges (one
 * process), else one at a time (`-m` only applies to merges, per-commit mode commits each).
 */
function batches(plan: RevertPlan, action: GitAction): CommitInfo[][] {
  const merges = plan.targets.some(c => c.parents.length > 1)
  if (action.mode === 'single' && !merges) return [plan.targets]
  return plan.targets.map(c => [c])
}

/** Reverts `plan.targets` on the current HEAD; returns the commits made. */
export async function applyReverts(
  git: GitCommandManager,
  plan: RevertPlan,
  action: GitAction,
  runLabel: string
): Promise<string[]> {
  if (plan.targets.length === 0) return []
  const start = (await git.revParse('HEAD'))!
  const made: string[] = []
  for (const batch of batches(plan, action)) {
    const mainline = batch[0]!.parents.length > 1 ? action.mainline : undefined
    const { conflict } = await git.revertNoCommit(
      batch.map(c => c.sha),
      mainline
    )
    if (conflict) {
      await git.abortRevert(start)
      const commit = plan.targets.find(c => c.sha === conflict.sha) ?? batch[0]!
      throw new RollbackError(
        `revert: reverting ${describeCommit(commit)} conflicts in ${conflict.paths.join(', ')}; working tree restored, nothing pushed`,
        'later commits changed the same lines: include them in the revert (widen the range), or revert by hand and rerun'
      )
    }
    if (action.mode === 'per-commit' && (await git.hasStagedChanges())) {
      made.push(await git.commit(revertMessage(batch, runLabel)))
    }
  }
  if (action.mode === 'single' && (await git.hasStagedChanges())) {
    made.push(await git.commit(revertMessage(plan.targets, runLabel)))
  }
  return made
}

export function revertMessage(commits: CommitInfo[], runLabel: string): string {
  const subject =
    commits.length === 1
      ? `Revert "${commits[0]!.subject}"`
      : `Revert ${commits.length} commits (emergency rollback)`
  const list = commits.map(c => `- ${describeCommit(c)}`).join('\n')
  const trailers = commits.map(c => `This reverts commit ${c.sha}.`).join('\n')
  return `${subject}\n\nReverted by emergency-rollback ${runLabel}, newest first:\n${list}\n\n${trailers}\n`
}
