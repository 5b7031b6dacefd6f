/**
 * One rollback at a time, across machines: a lock ref on the git remote (as github/branch-deploy
 * keeps a lock branch). The ref holds a commit of the empty tree whose message is the holder as
 * JSON. It is created with a lease that says "must not exist yet", so of two runs pushing at once
 * exactly one wins; it is deleted with a lease on its own SHA, so a release never removes a lock
 * someone else took after a forced release.
 */
import { formatDuration } from '../util/duration.js'
import { RollbackError } from '../util/errors.js'
import type { GitCommandManager } from './git-command-manager.js'
import { deleteWithLease, serverMessage } from './push.js'

export const LOCK_REF = 'refs/emergency-rollback/lock'
/** Where a lock read from the remote is fetched to (never the lock ref itself). */
const SEEN_REF = 'refs/emergency-rollback/lock-seen'

/** Who holds the lock: written into the lock commit's message as JSON. */
export interface LockHolderInfo {
  /** The actor who started the run. */
  holder: string
  /** ISO time the lock was taken. */
  startedAt: string
  /** The Actions run's URL, or `cli@<host>`. */
  run: string
  runbook: string
  command: string
}

export interface HeldLockRef {
  sha: string
  info: LockHolderInfo
}

/** Whether the run that holds a lock has ended; `unknown` (a CLI run, no access) is never taken over. */
export type HolderState = 'ended' | 'running' | 'unknown'

/**
 * When a held lock may be taken over: older than `afterMs` and its run has ended (a runner lost
 * mid-run, a job cancelled before its release ran). A younger lock, or one whose run is running or
 * cannot be checked, is refused as before.
 */
export interface LockStaleness {
  afterMs: number
  holderState(info: LockHolderInfo): Promise<HolderState>
}

export function describeLockHolder(info: LockHolderInfo): string {
  return `${info.holder} since ${info.startedAt} (${info.command} of runbook "${info.runbook}", ${info.run})`
}

/** The holder a lock (or queue) commit's message names; "unknown" for what a person pushed. */
export function parseHolderInfo(message: string): LockHolderInfo {
  try {
    const parsed = JSON.parse(message) as Partial<LockHolderInfo>
    return {
      holder: String(parsed.holder ?? 'unknown'),
      startedAt: String(parsed.startedAt ?? 'an unknown time'),
      run: String(parsed.run ?? 'an unknown run'),
      runbook: String(parsed.runbook ?? 'unknown'),
      command: String(parsed.command ?? 'run')
    }
  } catch {
    // Someone pushed the ref by hand: still a lock, its holder unknown.
    return {
      holder: 'unknown',
      startedAt: 'an unknown time',
      run: message.trim().slice(0, 200) || 'an unknown run',
      runbook: 'unknown',
      command: 'unknown'
    }
  }
}

/** The lock as it is on the remote now, or undefined when nobody holds it. */
export async function readLockRef(
  git: GitCommandManager,
  remote: string
): Promise<HeldLockRef | undefined> {
  const sha = await git.lsRemote(remote, LOCK_REF)
  if (!sha) return undefined
  await git.fetch(remote, [`+${LOCK_REF}:${SEEN_REF}`])
  const message = await git.exec(['log', '-1', '--format=%B', SEEN_REF])
  return { sha, info: parseHolderInfo(message) }
}

/** Creates the lock ref, or fails naming who holds it. */
export async function takeLockRef(
  git: GitCommandManager,
  remote: string,
  info: LockHolderInfo
): Promise<HeldLockRef> {
  const attempt = await tryTakeLockRef(git, remote, info)
  if ('held' in attempt) throw refusal(attempt.held.info)
  return attempt.taken
}

/** Creates the lock ref, or says who holds it; fails only when the push fails for another reason. */
export async function tryTakeLockRef(
  git: GitCommandManager,
  remote: string,
  info: LockHolderInfo
): Promise<{ taken: HeldLockRef } | { held: HeldLockRef }> {
  const sha = await git.commitEmptyTree(JSON.stringify(info))
  // Leased on "must not exist": of two runs pushing at once, exactly one wins.
  const pushed = await git.push(remote, sha, LOCK_REF, null)
  if (pushed.exitCode === 0) return { taken: { sha, info } }
  const held = await readLockRef(git, remote).catch(() => undefined)
  if (!held) {
    throw new RollbackError(
      `could not take the rollback lock ${LOCK_REF} on remote "${remote}": ${serverMessage(pushed) || 'push refused'}`,
      'check that the push token (push-token, else github-token) may push to the repository (contents: write)'
    )
  }
  return { held }
}

/** How to free a lock by hand (named in every refusal). */
export const RELEASE_HOW =
  'if that run is gone, release the lock: the Run button with release-lock ticked, the release-lock input of the action, or `emergency-rollback --release-lock` (CLI)'

export function refusal(info: LockHolderInfo): RollbackError {
  return new RollbackError(
    `another rollback is running: the lock is held by ${describeLockHolder(info)}`,
    `wait for it to finish; ${RELEASE_HOW}`
  )
}

/**
 * Removes a held lock that is stale (see LockStaleness) after saying so in the log; true when it
 * was removed. The delete is leased on the SHA seen, so a lock taken meanwhile is never removed.
 */
export async function removeStaleLock(
  git: GitCommandManager,
  remote: string,
  held: HeldLockRef,
  staleness: LockStaleness,
  now: number,
  log: { info(message: string): void }
): Promise<boolean> {
  const startedAt = Date.parse(held.info.startedAt)
  // A lock without a readable start time (pushed by hand) is never taken over.
  if (Number.isNaN(startedAt) || now - startedAt <= staleness.afterMs) return false
  if ((await staleness.holderState(held.info)) !== 'ended') return false
  const removed = await releaseLockRef(git, remote, held.sha)
  if (removed)
    log.info(
      `took over a stale rollback lock: held by ${describeLockHolder(held.info)}, older than ${formatDuration(staleness.afterMs)} (lock-stale-after) and that run has ended`
    )
  return removed
}

/** Deletes the lock ref if it is still the one at `sha`; false when it was not (moved or gone). */
export async function releaseLockRef(
  git: GitCommandManager,
  remote: string,
  sha: string
): Promise<boolean> {
  return deleteWithLease(git, { remote, dst: LOCK_REF, expected: sha })
}
