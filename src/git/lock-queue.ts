/**
 * The queue in front of the lock ref (lock-ref.ts): a run that finds the lock held leaves one ref
 * per waiting run on the same remote, so every entry point (the CLI, every workflow, ChatOps) sees
 * the same order. The ref's name carries the arrival time and the wait deadline, so one
 * `ls-remote` gives the order and which entries are stale; its commit (of the empty tree) holds
 * who waits, as JSON. An entry is created with a lease that expects no such ref and deleted with a
 * lease on its own SHA, like the lock ref.
 */
import { randomBytes } from 'node:crypto'
import type { GitCommandManager } from './git-command-manager.js'
import { LOCK_REF, type LockHolderInfo } from './lock-ref.js'
import { deleteWithLease, serverMessage } from './push.js'
import { RollbackError } from '../util/errors.js'

export const QUEUE_PREFIX = 'refs/emergency-rollback/queue/'

/** Wide enough for any millisecond time, so the names sort as the times do. */
const TIME_DIGITS = 15

export interface QueueEntry {
  ref: string
  sha: string
  /** Epoch ms the run joined the queue (the order). */
  arrivedAt: number
  /** Epoch ms after which the entry is stale: its run has given up or is gone. */
  deadline: number
}

/** The lock ref and the queue as the remote holds them now. */
export interface QueueState {
  /** The lock ref's SHA, undefined when nobody holds the lock. */
  lockSha?: string
  /** Every entry, stale ones included, oldest first. */
  entries: QueueEntry[]
}

export function entryName(arrivedAt: number, deadline: number, tag: string): string {
  const pad = (ms: number) => String(Math.max(0, Math.floor(ms))).padStart(TIME_DIGITS, '0')
  return `${QUEUE_PREFIX}${pad(arrivedAt)}-${pad(deadline)}-${tag}`
}

/** The times an entry's name carries; undefined for a ref this tool did not name. */
export function parseEntryName(
  ref: string
): Pick<QueueEntry, 'arrivedAt' | 'deadline'> | undefined {
  const match = /^(\d+)-(\d+)-[0-9a-z]+$/.exec(ref.slice(QUEUE_PREFIX.length))
  if (!ref.startsWith(QUEUE_PREFIX) || !match) return undefined
  return { arrivedAt: Number(match[1]), deadline: Number(match[2]) }
}

/** Oldest first; the name breaks a tie (two runs in the same millisecond). */
function byArrival(a: QueueEntry, b: QueueEntry): number {
  return a.arrivedAt - b.arrivedAt || (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0)
}

export async function readQueue(git: GitCommandManager, remote: string): Promise<QueueState> {
  const refs = await git.lsRemoteRefs(remote, [LOCK_REF, `${QUEUE_PREFIX}*`])
  const entries: QueueEntry[] = []
  for (const [ref, sha] of refs) {
    const times = parseEntryName(ref)
    if (times) entries.push({ ref, sha, ...times })
  }
  return { lockSha: refs.get(LOCK_REF), entries: entries.sort(byArrival) }
}

/** The entries whose run is still waiting at `now` (a stale one is skipped by everybody). */
export function liveEntries(entries: QueueEntry[], now: number): QueueEntry[] {
  return entries.filter(e => e.deadline > now)
}

/** Adds our entry at the end of the queue. */
export async function joinQueue(
  git: GitCommandManager,
  remote: string,
  info: LockHolderInfo,
  times: { arrivedAt: number; deadline: number }
): Promise<QueueEntry> {
  const waiting = { ...info, queuedAt: new Date(times.arrivedAt).toISOString() }
  const sha = await git.commitEmptyTree(
    JSON.stringify({ ...waiting, deadline: new Date(times.deadline).toISOString() })
  )
  const ref = entryName(times.arrivedAt, times.deadline, randomBytes(4).toString('hex'))
  const pushed = await git.push(remote, sha, ref, null)
  if (pushed.exitCode !== 0) {
    throw new RollbackError(
      `could not join the rollback queue (${ref}) on remote "${remote}": ${serverMessage(pushed) || 'push refused'}`,
      'check that github-token may push to the repository (contents: write), or set lock-wait to 0 to be refused at once'
    )
  }
  return { ref, sha, ...times }
}

/** Removes an entry if it is still the one we saw; false when it was already gone or replaced. */
export function leaveQueue(
  git: GitCommandManager,
  remote: string,
  entry: QueueEntry
): Promise<boolean> {
  return deleteWithLease(git, { remote, dst: entry.ref, expected: entry.sha })
}
