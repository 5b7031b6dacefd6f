/**
 * The git step's sequence, shared by preflight, run and drill:
 * resolve (read-only: which commits, deepening a shallow checkout as needed) ->
 * prepare (local only: checkout, revert or reset, remove files, check protected files) ->
 * publish (run: push; drill: push a scratch branch and delete it).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { RollbackError } from '../util/errors.js'
import type { Logger } from '../util/logger.js'
import { applyFileRules, type FilesOutcome } from './files.js'
import { describeFetch, mergeStats, type FetchStats } from './history.js'
import type { GitCommandManager } from './git-command-manager.js'
import type { GitAction } from './inputs.js'
import { resolveReset, type ResetPlan } from './reset.js'
import { applyReverts, describeCommit, resolveRevert, short, type RevertPlan } from './revert.js'
import type { GitSession } from './session.js'
import { requireNothingUntrackedAt } from './untracked.js'

export type Resolved = { kind: 'revert'; revert: RevertPlan } | { kind: 'reset'; reset: ResetPlan }

export interface Prepared {
  /** The local commit that would become the branch head. */
  head: string
  /** Commits made locally (reverts, file removal). */
  commits: string[]
  files: FilesOutcome
  /** The branch's content already equals the rollback result: nothing to push. */
  upToDate: boolean
}

/**
 * Resolves the commits. `earlier`: what preflight fetched to deepen a shallow checkout, reported
 * with this resolution's own fetches.
 */
export async function resolve(
  session: GitSession,
  action: GitAction,
  log: Logger,
  earlier?: FetchStats
): Promise<Resolved> {
  const resolved = await resolveOnce(session, action)
  const fetched = describeFetch(fetchStats(resolved))
  if (fetched) log.info(fetched)
  const stats = mergeStats(earlier, fetchStats(resolved))
  if (resolved.kind === 'revert') resolved.revert.fetch = stats
  else resolved.reset.fetch = stats
  return resolved
}

async function resolveOnce(session: GitSession, action: GitAction): Promise<Resolved> {
  if (action.strategy === 'reset')
    return { kind: 'reset', reset: await resolveReset(session, action) }
  return { kind: 'revert', revert: await resolveRevert(session, action) }
}

export function fetchStats(resolved: Resolved): FetchStats {
  return resolved.kind === 'revert' ? resolved.revert.fetch : resolved.reset.fetch
}

/** The concrete changes, for plan/preflight notes. */
export function describeResolved(resolved: Resolved, session: GitSession, action: GitAction) {
  const where = `${session.remote}/${session.branch}`
  const lines: string[] = []
  if (resolved.kind === 'revert') {
    const { targets, skipped } = resolved.revert
    if (targets.length === 0)
      lines.push(`nothing to revert on ${where}: every commit is already reverted`)
    else lines.push(`revert ${targets.length} commit(s) on ${where}, newest first:`)
    lines.push(...targets.map(c => `  ${describeCommit(c)}`))
    lines.push(
      ...skipped.map(s => `  skip ${describeCommit(s.commit)} (already reverted by ${short(s.by)})`)
    )
  } else {
    const { target, discarded } = resolved.reset
    if (discarded.length === 0)
      lines.push(`nothing to reset: ${where} is already at ${short(target)}`)
    else {
      lines.push(
        `reset ${where} from ${short(session.tip)} to ${short(target)}, discarding ${discarded.length} commit(s) (kept at ${action.backupRefPrefix}/<run-id>):`
      )
      lines.push(...discarded.map(c => `  ${describeCommit(c)}`))
      if (!action.confirm?.trim())
        lines.push(`to run it: confirm ${short(target)} (after checking the commits above)`)
    }
  }
  if (action.files.remove.length) lines.push(`remove if present: ${action.files.remove.join(', ')}`)
  if (action.files.protect.length)
    lines.push(`must exist before pushing: ${action.files.protect.join(', ')}`)
  const fetched = describeFetch(fetchStats(resolved))
  if (fetched) lines.push(fetched)
  return lines
}

export async function requireClean(session: GitSession): Promise<void> {
  if (await session.git.isClean()) return
  throw new RollbackError(
    `the checkout ${session.git.workdir} has uncommitted changes`,
    'run the rollback on a clean checkout (actions/checkout gives one); nothing was changed'
  )
}

/** Builds the rollback result locally on a detached HEAD. Nothing leaves the machine. */
export async function prepare(
  session: GitSession,
  action: GitAction,
  resolved: Resolved,
  label: string
): Promise<Prepared> {
  const { git } = session
  await requireClean(session)
  await git.checkoutDetached(resolved.kind === 'reset' ? resolved.reset.target : session.tip)
  const commits =
    resolved.kind === 'revert' ? await applyReverts(git, resolved.revert, action, label) : []
  const files = await applyFileRules(git, action.files, label)
  if (files.commit) commits.push(files.commit)
  const head = (await git.revParse('HEAD'))!
  const upToDate =
    head === session.tip || (await git.treeOf(head)) === (await git.treeOf(session.tip))
  return { head, commits, files, upToDate }
}

/**
 * Preflight's dry run: `prepare` in a throw-away worktree of the same repository, so a conflict or
 * a protected file the rollback would delete fails the run before any phase changed anything.
 */
export async function trial(
  session: GitSession,
  action: GitAction,
  resolved: Resolved,
  where: { tempDir?: string; label: string }
): Promise<Prepared> {
  const dir = await mkdtemp(join(where.tempDir ?? tmpdir(), 'rollback-trial-'))
  const path = join(dir, 'tree')
  await session.git.addWorktree(path, session.tip)
  try {
    const tree = session.git.at(path)
    // The worktree's own session: the checkout's untracked entries are not the worktree's.
    const inTree = { ...session, git: tree, untracked: undefined }
    const prepared = await prepare(inTree, action, resolved, where.label)
    const start = resolved.kind === 'reset' ? resolved.reset.target : session.tip
    const written = async () => {
      const from = (await session.git.revParse('HEAD')) ?? session.tip
      return writtenPaths(tree, from, resolved, { start, head: prepared.head })
    }
    await requireNothingUntrackedAt(session.git, written, session.untracked)
    return prepared
  } finally {
    await session.git.removeWorktree(path)
    await rm(dir, { recursive: true, force: true })
  }
}

/**
 * Every path `prepare` writes in a checkout at `from`: on to the start commit, on to the result,
 * and each reverted commit's paths (a file can exist only between two of the reverts).
 */
async function writtenPaths(
  git: GitCommandManager,
  from: string,
  resolved: Resolved,
  result: { start: string; head: string }
): Promise<Set<string>> {
  const written = new Set([
    ...(await git.changedPaths(from, result.start)),
    ...(await git.changedPaths(result.start, result.head))
  ])
  if (resolved.kind === 'revert')
    for (const c of resolved.revert.targets)
      if (c.parents[0]) for (const p of await git.changedPaths(c.parents[0], c.sha)) written.add(p)
  return written
}

/** What the report keeps about the step. */
export function details(resolved: Resolved, prepared: Prepared | undefined, extra: object = {}) {
  const base =
    resolved.kind === 'revert'
      ? {
          strategy: 'revert',
          reverted: resolved.revert.targets.map(c => c.sha),
          alreadyReverted: resolved.revert.skipped.map(s => ({ sha: s.commit.sha, by: s.by }))
        }
      : {
          strategy: 'reset',
          resetTo: resolved.reset.target,
          discarded: resolved.reset.discarded.map(c => c.sha)
        }
  return {
    ...base,
    commits: prepared?.commits ?? [],
    filesRemoved: prepared?.files.removed ?? [],
    filesKept: prepared?.files.kept ?? [],
    fetch: fetchStats(resolved),
    ...extra
  }
}
