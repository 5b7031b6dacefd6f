/**
 * The queue in front of the lock ref (lock-ref.ts): a run that finds the lock held leaves one ref
 * per waiting run on the same remote, so every entry point (the CLI, every workflow, ChatOps) sees
 * the same order. The ref's name carries the arrival time, the wait deadline and the waiter's last
 * heartbeat, so one `ls-remote` gives the order and which entries are stale; its commit (of the
 * empty tree) holds who waits, as JSON. An entry is created with a lease that expects no such ref
 * and deleted with a lease on its own SHA, like the lock ref. A waiter renames its entry on every
 * poll (the heartbeat); one whose heartbeat stops (its runner was lost) is skipped by everybody.
 */
import { randomBytes } from 'node:crypto'
import type { GitCommandManager } from './git-command-manager.js'
import { describeLockHolder, LOCK_REF, parseHolderInfo, type LockHolderInfo } from './lock-ref.js'
import { deleteWithLease, serverMessage } from './push.js'
import { formatDuration } from '../util/duration.js'
import { RollbackError } from '../util/errors.js'

export const QUEUE_PREFIX = 'refs/emergency-rollback/queue/'
/** How often a waiting run looks again (and renews its heartbeat). */
export const QUEUE_POLL_MS = 10_000
/** A waiter silent this long (several polls) is gone: its entry is skipped. */
export const HEARTBEAT_TIMEOUT_MS = 6 * QUEUE_POLL_MS

/** A queue report names this many waiters at most (the rest are counted). */
const LISTED = 10

/** Wide enough for any millisecond time, so the names sort as the times do. */
const TIME_DIGITS = 15

export interface QueueEntry {
  ref: string
  sha: string
  /** Epoch ms the run joined the queue (the order). */
  arrivedAt: number
  /** Epoch ms after which the entry is stale: its run has given up or is gone. */
  deadline: number
  /** Epoch ms the waiter last said it is still there. */
  heartbeatAt: number
  /** Random, fixed for the entry's life: breaks a tie between runs that arrived in the same ms. */
  tag: string
}

type EntryName = Omit<QueueEntry, 'ref' | 'sha'>

/** The lock ref and the queue as the remote holds them now. */
export interface QueueState {
  /** The lock ref's SHA, undefined when nobody holds the lock. */
  lockSha?: string
  /** Every entry, stale ones included, oldest first. */
  entries: QueueEntry[]
}

const pad = (ms: number) => String(Math.max(0, Math.floor(ms))).padStart(TIME_DIGITS, '0')

export function entryName(e: EntryName): string {
  return `${QUEUE_PREFIX}${pad(e.arrivedAt)}-${pad(e.deadline)}-${pad(e.heartbeatAt)}-${e.tag}`
}

/** The times an entry's name carries; undefined for a ref this tool did not name. */
export function parseEntryName(ref: string): EntryName | undefined {
  const match = /^(\d+)-(\d+)-(\d+)-([0-9a-z]+)$/.exec(ref.slice(QUEUE_PREFIX.length))
  if (!ref.startsWith(QUEUE_PREFIX) || !match) return undefined
  const [arrivedAt, deadline, heartbeatAt] = match.slice(1, 4).map(Number) as [
    number,
    number,
    number
  ]
  return { arrivedAt, deadline, heartbeatAt, tag: match[4]! }
}

/** Oldest first; the tag breaks a tie (two runs in the same millisecond). */
export function byArrival(a: EntryName, b: EntryName): number {
  return a.arrivedAt - b.arrivedAt || (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0)
}

export async function readQueue(git: GitCommandManager, remote: string): Promise<QueueState> {
  const refs = await git.lsRemoteRefs(remote, [LOCK_REF, `${QUEUE_PREFIX}*`])
  const entries: QueueEntry[] = []
  for (const [ref, sha] of refs) {
    const named = parseEntryName(ref)
    if (named) entries.push({ ref, sha, ...named })
  }
  return { lockSha: refs.get(LOCK_REF), entries: entries.sort(byArrival) }
}

/** When an entry stops counting: its deadline, or a heartbeat timeout after its last heartbeat. */
export function staleFrom(e: EntryName): number {
  return Math.min(e.deadline, e.heartbeatAt + HEARTBEAT_TIMEOUT_MS)
}

/** The entries whose run is still waiting at `now` (a stale one is skipped by everybody). */
export function liveEntries(entries: QueueEntry[], now: number): QueueEntry[] {
  return entries.filter(e => staleFrom(e) > now)
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
  const named = { ...times, heartbeatAt: times.arrivedAt, tag: randomBytes(4).toString('hex') }
  const ref = entryName(named)
  const pushed = await git.push(remote, sha, ref, null)
  if (pushed.exitCode !== 0) {
    throw new RollbackError(
      `could not join the rollback queue (${ref}) on remote "${remote}": ${serverMessage(pushed) || 'push refused'}`,
      'check that the push token (push-token, else github-token) may push to the repository (contents: write), or set lock-wait to 0 to be refused at once'
    )
  }
  return { ref, sha, ...named }
}

/**
 * Renames our entry to carry `now` as its heartbeat: one atomic push deletes the old name (leased
 * on its SHA) and creates the new one (leased on "absent"). Arrival and tag are kept, so is our
 * place. An entry someone removed (it looked stale) is created again. Returns the entry as it is
 * now on the remote; on a refused push, the old one (the next poll tries again).
 */
export async function renewHeartbeat(
  git: GitCommandManager,
  remote: string,
  entry: QueueEntry,
  state: QueueState,
  now: number
): Promise<{ entry: QueueEntry; problem?: string }> {
  if (now <= entry.heartbeatAt) return { entry }
  const renewed = { ...entry, heartbeatAt: now }
  renewed.ref = entryName(renewed)
  const create = { src: entry.sha, dst: renewed.ref, expected: null }
  const present = state.entries.some(e => e.ref === entry.ref && e.sha === entry.sha)
  const pushed = present
    ? await git.pushAtomic(remote, [{ src: '', dst: entry.ref, expected: entry.sha }, create])
    : await git.push(remote, create.src, create.dst, create.expected)
  if (pushed.exitCode === 0) return { entry: renewed }
  return { entry, problem: serverMessage(pushed) || 'push refused' }
}

/** Removes an entry if it is still the one we saw; false when it was already gone or replaced. */
export function leaveQueue(
  git: GitCommandManager,
  remote: string,
  entry: QueueEntry
): Promise<boolean> {
  return deleteWithLease(git, { remote, dst: entry.ref, expected: entry.sha })
}

/**
 * What is queued now, in one sentence, after removing every stale entry (a waiter that is in fact
 * alive puts its entry back at its next heartbeat, in the same place). For release-lock.
 */
export async function sweepQueue(
  git: GitCommandManager,
  remote: string,
  now: number
): Promise<string> {
  const { entries } = await readQueue(git, remote)
  if (entries.length === 0) return 'nobody is queued'
  const live = liveEntries(entries, now)
  const stale = entries.filter(e => !live.includes(e))
  const named = await waiters(git, remote, [...live, ...stale].slice(0, LISTED))
  const removed = await Promise.all(stale.map(e => leaveQueue(git, remote, e).catch(() => false)))
  const silent = (e: QueueEntry) => `silent for ${formatDuration(Math.max(0, now - e.heartbeatAt))}`
  const parts = [
    live.length === 0
      ? 'nobody is waiting'
      : `waiting: ${listed(live.map((e, i) => `${i + 1}. ${named(e)}, ${silent(e)}`))}`
  ]
  if (stale.length > 0) {
    const gone = removed.filter(Boolean).length
    parts.push(
      `removed ${gone} of ${stale.length} stale queue entries (their run gave up or is gone): ${listed(stale.map(e => `${named(e)}, ${silent(e)}`))}`
    )
  }
  return parts.join('; ')
}

function listed(items: string[]): string {
  const more = items.length > LISTED ? [`and ${items.length - LISTED} more`] : []
  return [...items.slice(0, LISTED), ...more].join('; ')
}

/** Who waits in each entry (the JSON its commit holds); "unknown" when it cannot be read. */
async function waiters(
  git: GitCommandManager,
  remote: string,
  entries: QueueEntry[]
): Promise<(e: QueueEntry) => string> {
  // Fetched by name into FETCH_HEAD only: nothing is left behind in the checkout's refs. An
  // entry gone meanwhile fails the fetch; the commits already here are still read.
  await git
    .fetch(
      remote,
      entries.map(e => e.ref)
    )
    .catch(() => undefined)
  const who = new Map<string, string>()
  for (const e of entries) {
    const message = await git.exec(['log', '-1', '--format=%B', e.sha]).catch(() => '')
    who.set(e.ref, message ? describeLockHolder(parseHolderInfo(message)) : `unknown (${e.ref})`)
  }
  return e => who.get(e.ref) ?? `unknown (${e.ref})`
}
