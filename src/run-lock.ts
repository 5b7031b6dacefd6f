/**
 * One rollback at a time, whatever started it (the action, the CLI, ChatOps): a lock taken once
 * every preflight has passed and held until the run ends, success or failure.
 *  - The git lock ref on the runbook's remote (src/git/lock-ref.ts): seen by every machine that
 *    can reach the repository; names the holder, the start time and the run.
 *  - The database advisory lock on one dedicated session (src/db/advisory-lock.ts): held for the
 *    whole run, so steps take none of their own; it ends with its session, even after a crash.
 * A runbook without a git section is locked by the database alone; with neither, no lock is taken
 * and the report says so.
 * With a wait (lock-wait), a run that finds the lock held queues for it in arrival order
 * (src/git/lock-wait.ts); the database lock, which has no queue, is then tried again until the
 * same deadline.
 */
import { acquireRunLock, AdvisoryLockHeldError, type AdvisoryLock } from './db/advisory-lock.js'
import type { DbSettings } from './db/connection.js'
import {
  describeLockHolder,
  LOCK_REF,
  readLockRef,
  releaseLockRef,
  type HeldLockRef,
  type LockHolderInfo
} from './git/lock-ref.js'
import { pause, QUEUE_POLL_MS, takeLockRefInTurn, type LockWait } from './git/lock-wait.js'
import { withGitSession, type Checkout, type SessionTarget } from './git/session.js'
import { formatDuration } from './util/duration.js'
import { RollbackError } from './util/errors.js'
import type { Logger } from './util/logger.js'

export interface RunLockScope {
  checkout: Checkout
  /** The runbook's git remote and branch; absent when the runbook has no git section. */
  git?: SessionTarget
  /** The run's database; absent when the runbook has no database. */
  database?: () => DbSettings
  info: LockHolderInfo
  log: Logger
  /** How long to wait for a held lock (none: refused at once). */
  wait?: Omit<LockWait, 'log'>
}

export interface HeldRunLock {
  /** What was taken, for the report ("no lock was taken" when nothing could be). */
  description: string
  /** The database advisory lock is held (database steps then take none of their own). */
  holdsDatabase: boolean
  /** Releases everything taken; a failure only warns (returned, for the report). */
  release(): Promise<string[]>
}

/** Takes the git lock ref, then the database lock; refused (RollbackError) naming the holder. */
export async function takeRunLock(scope: RunLockScope): Promise<HeldRunLock> {
  const { git, database } = scope
  if (!git && !database) {
    return {
      description:
        'no lock was taken: the runbook has neither a git section nor a database (another run could overlap this one)',
      holdsDatabase: false,
      release: async () => []
    }
  }
  const wait: LockWait = { ...(scope.wait ?? NO_WAIT), log: scope.log }
  const deadline = wait.now() + wait.waitMs
  const ref = git
    ? await withGitSession(scope.checkout, git, s =>
        takeLockRefInTurn({ git: s.git, remote: s.remote }, scope.info, wait)
      )
    : undefined
  let advisory: AdvisoryLock | undefined
  try {
    if (database) advisory = await takeDatabaseLock(database, scope.info, wait, deadline)
  } catch (err) {
    if (ref && git) await releaseRef(scope, git, ref)
    throw err
  }
  const taken = [
    ref && git ? `git ref ${LOCK_REF} on remote "${git.remote}"` : undefined,
    advisory ? 'the database advisory lock' : undefined
  ].filter(Boolean)
  return {
    description: `held ${taken.join(' and ')} for the whole run`,
    holdsDatabase: advisory !== undefined,
    async release() {
      const problems: string[] = []
      if (advisory) {
        await advisory.release().catch((err: unknown) => {
          problems.push(
            `could not release the database advisory lock: ${messageOf(err)} (it ends with its session)`
          )
        })
      }
      if (ref && git) problems.push(...(await releaseRef(scope, git, ref)))
      return problems
    }
  }
}

const NO_WAIT: Omit<LockWait, 'log'> = {
  waitMs: 0,
  now: Date.now,
  sleep: () => Promise.resolve()
}

/** The advisory lock; while another session holds it, tried again until the deadline. */
async function takeDatabaseLock(
  database: () => DbSettings,
  info: LockHolderInfo,
  wait: LockWait,
  deadline: number
): Promise<AdvisoryLock> {
  let said = false
  for (;;) {
    try {
      return await acquireRunLock(database(), 'run', describeLockHolder(info))
    } catch (err) {
      const left = deadline - wait.now()
      if (!(err instanceof AdvisoryLockHeldError) || left <= 0 || wait.signal?.aborted) throw err
      if (!said) wait.log.info(`${err.message}; waiting up to ${formatDuration(left)}`)
      said = true
      await pause(Math.min(QUEUE_POLL_MS, left), wait)
    }
  }
}

async function releaseRef(
  scope: RunLockScope,
  git: SessionTarget,
  ref: HeldLockRef
): Promise<string[]> {
  try {
    const released = await withGitSession(scope.checkout, git, s =>
      releaseLockRef(s.git, s.remote, ref.sha)
    )
    if (released) return []
    return [`the lock ref ${LOCK_REF} was no longer ours (released by hand?); left as it is`]
  } catch (err) {
    return [
      `could not release the lock ref ${LOCK_REF}: ${messageOf(err)}; release it with --release-lock or the release-lock input`
    ]
  }
}

/** Removes a stale lock ref after saying who held it; returns what it did, in one sentence. */
export async function releaseStaleLock(
  checkout: Checkout,
  git: SessionTarget | undefined,
  log: Logger
): Promise<string> {
  if (!git) {
    return 'the runbook has no git section, so there is no lock ref; a database advisory lock ends with the session that holds it'
  }
  return withGitSession(checkout, git, async s => {
    const held = await readLockRef(s.git, s.remote)
    if (!held) return `no lock held: ${LOCK_REF} does not exist on remote "${s.remote}"`
    log.info(`the lock was held by ${describeLockHolder(held.info)}`)
    const released = await releaseLockRef(s.git, s.remote, held.sha)
    if (!released)
      throw new RollbackError(
        `the lock ${LOCK_REF} changed while it was being released`,
        'look at who holds it now, then release again if it is stale'
      )
    return `released the lock held by ${describeLockHolder(held.info)}`
  })
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
