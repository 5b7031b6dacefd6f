/**
 * Waiting for the lock ref in arrival order. A run that finds the lock held (or others already
 * waiting) joins the queue (lock-queue.ts) and polls, renewing its heartbeat each time: when its
 * entry is the oldest live one and the lock is free, it takes the lock and leaves the queue. The
 * wait is bounded by its deadline and ends early on cancellation; either way the entry is removed.
 */
import { formatDuration } from '../util/duration.js'
import { RollbackError } from '../util/errors.js'
import type { Logger } from '../util/logger.js'
import type { GitCommandManager } from './git-command-manager.js'
import {
  byArrival,
  joinQueue,
  leaveQueue,
  liveEntries,
  QUEUE_POLL_MS,
  readQueue,
  renewHeartbeat,
  staleFrom,
  type QueueEntry,
  type QueueState
} from './lock-queue.js'
import {
  describeLockHolder,
  readLockRef,
  RELEASE_HOW,
  removeStaleLock,
  takeLockRef,
  tryTakeLockRef,
  type HeldLockRef,
  type LockHolderInfo,
  type LockStaleness
} from './lock-ref.js'

/** Entries stale this long are removed by whoever sees them (clocks differ a little). */
const STALE_GRACE_MS = 60_000

/** How a run waits for the lock (the run's clock, so tests drive it). */
export interface LockWait {
  /** How long to wait for the lock; 0: refused at once when it is held or others wait. */
  waitMs: number
  now(): number
  sleep(ms: number): Promise<void>
  signal?: AbortSignal
  /** When a held lock counts as stale and is taken over (none: never). */
  staleness?: LockStaleness
  /** Told when our place in the queue or the holder changes ("queued behind X, position N"). */
  onQueued?(message: string): void | Promise<void>
  log: Logger
}

interface Where {
  git: GitCommandManager
  remote: string
}

/** Takes the lock ref in turn: at once when nobody holds it or waits, else after those ahead. */
export async function takeLockRefInTurn(
  where: Where,
  info: LockHolderInfo,
  wait: LockWait
): Promise<HeldLockRef> {
  const arrivedAt = wait.now()
  const queue = new Queue(where, wait.log)
  const state = await queue.withoutStaleLock(await readQueue(where.git, where.remote), wait)
  const ahead = liveEntries(state.entries, arrivedAt)
  if (ahead.length === 0) {
    // Not waiting: refused at once, naming the holder, when the lock is held.
    if (wait.waitMs === 0) return takeLockRef(where.git, where.remote, info)
    if (!state.lockSha) {
      const attempt = await tryTakeLockRef(where.git, where.remote, info)
      if ('taken' in attempt) return attempt.taken
    }
  }
  if (wait.waitMs === 0) {
    throw await queue.refusal(
      state,
      `does not wait (lock-wait is 0) and would be position ${ahead.length + 1}`
    )
  }
  const mine = {
    entry: await joinQueue(where.git, where.remote, info, {
      arrivedAt,
      deadline: arrivedAt + wait.waitMs
    })
  }
  try {
    return await waitInQueue(queue, info, wait, mine)
  } finally {
    await leaveQueue(where.git, where.remote, mine.entry).catch((err: unknown) => {
      wait.log.warn(
        `could not leave the rollback queue (${mine.entry.ref}): ${err instanceof Error ? err.message : err}; it is skipped once its heartbeat stops`
      )
    })
  }
}

async function waitInQueue(
  queue: Queue,
  info: LockHolderInfo,
  wait: LockWait,
  mine: { entry: QueueEntry }
): Promise<HeldLockRef> {
  const { git, remote } = queue.where
  const { deadline } = mine.entry
  let said = ''
  for (;;) {
    const now = wait.now()
    const state = await queue.withoutStaleLock(await readQueue(git, remote), wait)
    await queue.removeStale(state, now)
    await queue.heartbeat(mine, state, now)
    // Our own entry removed by hand: the heartbeat puts it back, we keep our place all the same.
    const ahead = liveEntries(state.entries, now).filter(e => byArrival(e, mine.entry) < 0)
    const position = ahead.length + 1
    if (wait.signal?.aborted) {
      throw new RollbackError(
        `${reasonOf(wait.signal)} while queued for the rollback lock at position ${position}; left the queue, nothing was changed`
      )
    }
    if (position === 1 && !state.lockSha) {
      const attempt = await tryTakeLockRef(git, remote, info)
      if ('taken' in attempt) return attempt.taken
    }
    const left = deadline - now
    if (left <= 0) {
      throw await queue.refusal(
        state,
        `waited ${formatDuration(wait.waitMs)} (lock-wait) and was position ${position}`
      )
    }
    const message = await queue.describe(state, position)
    if (message !== said) {
      said = message
      wait.log.info(`${message}; waiting up to ${formatDuration(left)} more`)
      await wait.onQueued?.(message)
    }
    await pause(Math.min(QUEUE_POLL_MS, left), wait)
  }
}

/** What a waiting run says about the queue; it reads each holder's details once. */
class Queue {
  private holder?: HeldLockRef
  /** The lock last found not stale, and when: its run is asked about at most once a minute. */
  private checked?: { sha: string; at: number }

  constructor(
    readonly where: Where,
    private readonly log: Logger
  ) {}

  /** "queued behind <holder>, position N" (N = 1: next, as soon as the lock is free). */
  async describe(state: QueueState, position: number): Promise<string> {
    const holder = await this.holderOf(state)
    const behind = holder ? describeLockHolder(holder.info) : 'runs queued earlier'
    return `queued behind ${behind}, position ${position} in the rollback queue`
  }

  /** Refused: the holder (who, since when, which run) and our place in the queue. */
  async refusal(state: QueueState, ours: string): Promise<RollbackError> {
    const holder = await this.holderOf(state)
    const held = holder
      ? `the lock is held by ${describeLockHolder(holder.info)}`
      : 'the lock is free but earlier runs are queued for it'
    return new RollbackError(
      `another rollback is running: ${held}; this run ${ours} in the rollback queue`,
      `wait for it to finish, or start again with a longer lock-wait (--lock-wait in the CLI); ${RELEASE_HOW}`
    )
  }

  /** The state with the lock taken over when it is stale (see LockStaleness). */
  async withoutStaleLock(state: QueueState, wait: LockWait): Promise<QueueState> {
    if (!state.lockSha || !wait.staleness) return state
    const now = wait.now()
    if (this.checked?.sha === state.lockSha && now - this.checked.at < STALE_GRACE_MS) return state
    const holder = await this.holderOf(state)
    if (!holder) return state
    const { git, remote } = this.where
    const removed = await removeStaleLock(git, remote, holder, wait.staleness, now, this.log)
    this.checked = { sha: holder.sha, at: now }
    return removed ? { ...state, lockSha: undefined } : state
  }

  /** Entries stale for a while: their run gave up or died without leaving. */
  async removeStale(state: QueueState, now: number): Promise<void> {
    for (const e of state.entries.filter(e => staleFrom(e) + STALE_GRACE_MS < now)) {
      // Another waiter may remove it at the same moment: the lease makes that harmless.
      await leaveQueue(this.where.git, this.where.remote, e).catch(() => false)
    }
  }

  /** Says we are still waiting; a refused push only warns (the next poll tries again). */
  async heartbeat(mine: { entry: QueueEntry }, state: QueueState, now: number): Promise<void> {
    const { git, remote } = this.where
    const renewed = await renewHeartbeat(git, remote, mine.entry, state, now).catch(
      (err: unknown) => ({
        entry: mine.entry,
        problem: err instanceof Error ? err.message : `${err}`
      })
    )
    mine.entry = renewed.entry
    if (renewed.problem) {
      this.log.warn(
        `could not renew our place in the rollback queue (${mine.entry.ref}): ${renewed.problem}; trying again at the next poll`
      )
    }
  }

  private async holderOf(state: QueueState): Promise<HeldLockRef | undefined> {
    if (!state.lockSha) return undefined
    if (this.holder?.sha === state.lockSha) return this.holder
    const read = await readLockRef(this.where.git, this.where.remote).catch(() => undefined)
    this.holder = read
    return read
  }
}

/** Sleeps, waking early when the run is cancelled. */
export function pause(ms: number, wait: LockWait): Promise<void> {
  const { signal } = wait
  if (!signal) return wait.sleep(ms)
  if (signal.aborted) return Promise.resolve()
  return new Promise(resolve => {
    const done = () => {
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, { once: true })
    void wait.sleep(ms).then(done, done)
  })
}

function reasonOf(signal: AbortSignal): string {
  return typeof signal.reason === 'string' ? signal.reason : 'cancelled'
}
