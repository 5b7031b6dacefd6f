/**
 * Short lock waits, retried: each attempt runs with a small lock_timeout; on SQLSTATE 55P03
 * (lock_not_available) we sleep and retry with a longer timeout (GitLab's with_lock_retries
 * shape: 100 ms, 200 ms, ... up to the runbook's lock-timeout, sleeps growing with jitter). When
 * the ladder runs out the step fails; we never fall back to waiting without a timeout.
 */
import type pg from 'pg'
import { RollbackError } from '../util/errors.js'
import { pgErrorCode } from './connection.js'
import { askAutovacuumToYield, isWraparoundVacuum } from './autovacuum-yield.js'

export interface LadderOptions {
  /** The runbook's lock-timeout: the top rung. */
  lockTimeoutMs: number
  /** Retries after the first attempt (runbook lock-retries). */
  retries: number
  sleep(ms: number): Promise<void>
  /** 0..1; defaults to Math.random (tests pass a constant). */
  random?: () => number
  log?: (message: string) => void
  /**
   * Called before each attempt; may wait (bounded) until the attempt is likely to get its lock
   * at once, e.g. until no long transaction holds a conflicting lock (see waitForClearRoad).
   */
  beforeAttempt?: () => Promise<void>
}

export interface LadderAttempt {
  attempt: number
  lockTimeoutMs: number
  outcome: 'ok' | 'lock timeout'
  waitedMs: number
  sleptMs?: number
}

export interface LadderResult<T> {
  value: T
  attempts: LadderAttempt[]
}

/** The lock_timeout of each attempt: 5 rising rungs up to the top, then the top. */
export function ladderTimeouts(lockTimeoutMs: number, retries: number): number[] {
  const out: number[] = []
  for (let i = 0; i <= retries; i++) {
    out.push(Math.max(10, Math.round((lockTimeoutMs * Math.min(i + 1, 5)) / 5)))
  }
  return out
}

/** Sleep before retry i (1-based): 50 ms doubling, capped at 5 s, plus up to 50% jitter. */
export function ladderSleep(retry: number, random: () => number): number {
  const base = Math.min(5000, 50 * 2 ** (retry - 1))
  return Math.round(base + base * 0.5 * random())
}

export class LockLadderExhausted extends RollbackError {
  constructor(
    what: string,
    readonly attempts: LadderAttempt[]
  ) {
    const tops = attempts.map(a => a.lockTimeoutMs).join('/')
    super(
      `${what}: could not get the lock after ${attempts.length} attempts (lock_timeout ${tops} ms); something holds a conflicting lock (a long transaction?)`,
      'find it in pg_stat_activity (oldest xact_start) and let it finish or end it, then rerun (the step is idempotent); or raise database.lock-retries / lock-timeout'
    )
    this.name = 'LockLadderExhausted'
  }
}

/**
 * Runs `attempt` (which sends the statement(s)) with a per-attempt lock_timeout set on the
 * session, retrying on 55P03. `attempt` must leave the session clean on failure (roll back its
 * own transaction). Afterwards lock_timeout is RESET to the session default.
 */
export async function withLockLadder<T>(
  client: pg.Client,
  what: string,
  options: LadderOptions,
  attempt: (lockTimeoutMs: number) => Promise<T>
): Promise<LadderResult<T>> {
  const timeouts = ladderTimeouts(options.lockTimeoutMs, options.retries)
  const random = options.random ?? Math.random
  const attempts: LadderAttempt[] = []
  try {
    for (const [i, timeout] of timeouts.entries()) {
      await options.beforeAttempt?.()
      await client.query(`SET lock_timeout = ${Math.round(timeout)}`)
      const started = Date.now()
      try {
        const value = await attempt(timeout)
        attempts.push({
          attempt: i + 1,
          lockTimeoutMs: timeout,
          outcome: 'ok',
          waitedMs: Date.now() - started
        })
        return { value, attempts }
      } catch (err) {
        if (pgErrorCode(err) !== '55P03') throw err
        const record: LadderAttempt = {
          attempt: i + 1,
          lockTimeoutMs: timeout,
          outcome: 'lock timeout',
          waitedMs: Date.now() - started
        }
        attempts.push(record)
        if (i === timeouts.length - 1) break
        record.sleptMs = ladderSleep(i + 1, random)
        options.log?.(
          `${what}: lock not granted within ${timeout} ms (attempt ${i + 1}/${timeouts.length}); retrying in ${record.sleptMs} ms`
        )
        await options.sleep(record.sleptMs)
      }
    }
  } finally {
    await client.query('RESET lock_timeout').catch(() => {})
  }
  throw new LockLadderExhausted(what, attempts)
}

export interface ClearRoadOptions {
  /** Transactions older than this that hold a lock on the table are "long" (autovacuum: any). */
  olderThanMs: number
  /** pg_locks modes that conflict with the lock we will ask for; default: all of them. */
  conflicting?: readonly string[]
  /** Upper bound on the whole wait (never unbounded). */
  maxWaitMs: number
  pollMs: number
  sleep(ms: number): Promise<void>
  log?: (message: string) => void
  /** The session is inside a transaction (a drill's): the yield keeps its lock to the end. */
  inTransaction?: boolean
}

export interface ClearRoad {
  waitedMs: number
  /** Autovacuum workers that gave way (askAutovacuumToYield). */
  yieldedPids: number[]
}

/**
 * Waits, WITHOUT queueing for the lock (so the app is never blocked behind us), until no other
 * session has held a (conflicting) lock on the table (`relation`, or an index's table) inside a
 * transaction older than olderThanMs.
 * Autovacuum counts: it gives way to a lock request only after deadlock_timeout, longer than the
 * ladder's rungs, so every rung would time out behind it while the app queued behind the rung.
 * So an autovacuum worker is asked to give way, once, by a request the app does not queue
 * behind (autovacuum-yield.ts); a client's transaction is waited out. Only then does the ladder
 * queue for its lock, so its short lock_timeout rarely fires and the app's queries rarely wait
 * behind our request. Bounded by maxWaitMs (plus one yield); the ladder still applies after.
 */
export async function waitForClearRoad(
  client: pg.Client,
  relation: string,
  options: ClearRoadOptions
): Promise<ClearRoad> {
  const started = Date.now()
  const asked = new Set<number>()
  const yieldedPids: number[] = []
  const table = await tableOf(client, relation)
  if (table === undefined) return { waitedMs: Date.now() - started, yieldedPids }
  const young = new YoungHolders(options.olderThanMs)
  let logged = false
  for (;;) {
    const res = await client.query<{
      pid: number
      age_ms: number
      youngest_ms: number
      app: string
      kind: string
      query: string
    }>(
      `SELECT a.pid, (extract(epoch FROM now() - a.xact_start) * 1000)::int AS age_ms,
              min((extract(epoch FROM now() - a.xact_start) * 1000)::int) OVER () AS youngest_ms,
              a.application_name AS app, a.backend_type AS kind, coalesce(a.query, '') AS query
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.relation = to_regclass($1) AND l.granted AND l.pid <> pg_backend_pid()
          AND a.backend_type IN ('client backend', 'autovacuum worker')
          AND ($2::text[] IS NULL OR l.mode = ANY($2::text[]))
          AND a.xact_start IS NOT NULL
        ORDER BY a.backend_type = 'autovacuum worker' DESC, a.xact_start LIMIT 1`,
      [table, options.conflicting ?? null]
    )
    const holder = res.rows[0]
    const waited = Date.now() - started
    if (!holder || waited >= options.maxWaitMs) return { waitedMs: waited, yieldedPids }
    if (holder.kind !== 'autovacuum worker' && holder.age_ms < options.olderThanMs) {
      if (young.cleared()) return { waitedMs: waited, yieldedPids }
      await options.sleep(young.lookAgainInMs(holder, options.maxWaitMs - waited))
      continue
    }
    young.reset()
    if (
      holder.kind === 'autovacuum worker' &&
      !isWraparoundVacuum(holder.query) &&
      !asked.has(holder.pid)
    ) {
      asked.add(holder.pid)
      // Bounded on its own (deadlock_timeout + a margin, at most CLEAR_ROAD_MAX_MS), even where
      // the road's bound is a ladder's short sleep: the attempt after it would time out anyway.
      const outcome = await askAutovacuumToYield(
        client,
        table,
        CLEAR_ROAD_MAX_MS,
        options.inTransaction
      )
      if (outcome.yielded) yieldedPids.push(holder.pid)
      options.log?.(
        outcome.yielded
          ? `autovacuum (pid ${holder.pid}) was working on ${table}: it gave way after ${outcome.waitedMs} ms (PostgreSQL cancels it for a lock request; it comes back to the table on a later round)`
          : `autovacuum (pid ${holder.pid}) holds ${table} and was not made to give way (${outcome.reason}): waiting for it`
      )
      continue
    }
    if (!logged) {
      options.log?.(
        `waiting (without queueing) for pid ${holder.pid} (${holder.app || holder.kind}, transaction open ${holder.age_ms} ms) to release ${table}`
      )
      logged = true
    }
    await options.sleep(Math.min(options.pollMs, options.maxWaitMs - waited))
  }
}

/**
 * The table whose lock holders a request on `relation` waits behind: an index stands for its
 * table (a query using the index holds a lock on the table, not always on the index). As
 * PostgreSQL names it (quoted where needed); undefined when there is no such relation.
 */
async function tableOf(client: pg.Client, relation: string): Promise<string | undefined> {
  const res = await client.query<{ t: string | null }>(
    `SELECT coalesce((SELECT indrelid FROM pg_index WHERE indexrelid = to_regclass($1)),
                     to_regclass($1))::regclass::text AS t`,
    [relation]
  )
  return res.rows[0]?.t ?? undefined
}

/** Longest we wait for long transactions on a table before queueing for a strong lock. */
export const CLEAR_ROAD_MAX_MS = 30_000

/** How the steps wait for a clear road: a holder is long after 100 ms; polled every 50 ms. */
export function clearRoadOptions(ladder: LadderOptions): ClearRoadOptions {
  return {
    olderThanMs: 100,
    maxWaitMs: CLEAR_ROAD_MAX_MS,
    pollMs: 50,
    sleep: ladder.sleep,
    log: ladder.log
  }
}

/** waitForClearRoad on each of `tables` in turn. */
export async function waitForClearRoads(
  client: pg.Client,
  tables: readonly string[],
  options: ClearRoadOptions
): Promise<ClearRoad> {
  const total: ClearRoad = { waitedMs: 0, yieldedPids: [] }
  for (const table of tables) {
    const road = await waitForClearRoad(client, table, options)
    total.waitedMs += road.waitedMs
    total.yieldedPids.push(...road.yieldedPids)
  }
  return total
}

/**
 * Waits, without queueing, until no other client transaction of this database older than
 * olderThanMs holds a snapshot: a CONCURRENTLY index build waits for those wherever they read,
 * under its lock_timeout. Bounded by maxWaitMs; returns the time waited.
 */
export async function waitForOlderSnapshots(
  client: pg.Client,
  options: ClearRoadOptions
): Promise<number> {
  const started = Date.now()
  const young = new YoungHolders(options.olderThanMs)
  let logged = false
  for (;;) {
    const res = await client.query<{
      pid: number
      age_ms: number
      youngest_ms: number
      app: string
    }>(
      `SELECT pid, (extract(epoch FROM now() - xact_start) * 1000)::int AS age_ms,
              min((extract(epoch FROM now() - xact_start) * 1000)::int) OVER () AS youngest_ms,
              application_name AS app
         FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()
          AND backend_type = 'client backend' AND backend_xmin IS NOT NULL
          AND xact_start IS NOT NULL
        ORDER BY xact_start LIMIT 1`
    )
    const holder = res.rows[0]
    const waited = Date.now() - started
    if (!holder || waited >= options.maxWaitMs) return waited
    if (holder.age_ms < options.olderThanMs) {
      if (young.cleared()) return waited
      await options.sleep(young.lookAgainInMs(holder, options.maxWaitMs - waited))
      continue
    }
    young.reset()
    if (!logged) {
      options.log?.(
        `waiting (without queueing) for pid ${holder.pid} (${holder.app || 'client backend'}, transaction open ${holder.age_ms} ms): an index build waits for its snapshot`
      )
      logged = true
    }
    await options.sleep(Math.min(options.pollMs, options.maxWaitMs - waited))
  }
}

/**
 * Holders younger than the "long" threshold, seen by one look: most are the app's short
 * transactions, but a long one is young too when it has just begun. So the road is not called
 * clear on them at once: we look again when the youngest of them would have become long. If by
 * then only younger holders are left, all those seen have ended (none was long).
 */
class YoungHolders {
  private waitedFor = false

  constructor(private readonly olderThanMs: number) {}

  /** Called when a look sees young holders only: whether those of the look before have ended. */
  cleared(): boolean {
    return this.waitedFor
  }

  /** How long to sleep before looking again (within what is left of the bound). */
  lookAgainInMs(seen: { youngest_ms: number }, leftMs: number): number {
    this.waitedFor = true
    return Math.max(1, Math.min(this.olderThanMs - Math.max(0, seen.youngest_ms), leftMs))
  }

  /** A long holder was seen: holders seen young after it must be waited for again. */
  reset(): void {
    this.waitedFor = false
  }
}

/** What an attempt waits for first: lock holders of these modes, older snapshots too. */
export interface RoadOptions {
  /** pg_locks modes to wait for; default: all of them. */
  conflicting?: readonly string[]
  olderSnapshots?: boolean
}

/**
 * The ladder with each attempt preceded by waitForClearRoads on `tables`: an attempt starts as
 * soon as the long transactions on them have ended, rather than after the ladder's next sleep,
 * and rarely times out. waitedMs() is the time spent waiting so far.
 */
export function afterLongTransactions(
  client: pg.Client,
  tables: string | readonly string[],
  ladder: LadderOptions,
  road: RoadOptions = {}
): { ladder: LadderOptions; waitedMs: () => number; yieldedPids: () => number[] } {
  let waited = 0
  const yielded: number[] = []
  return {
    ladder: {
      ...ladder,
      beforeAttempt: async () => {
        const options = { ...clearRoadOptions(ladder), conflicting: road.conflicting }
        const clear = await waitForClearRoads(
          client,
          typeof tables === 'string' ? [tables] : tables,
          options
        )
        waited += clear.waitedMs
        yielded.push(...clear.yieldedPids)
        if (road.olderSnapshots) waited += await waitForOlderSnapshots(client, options)
      }
    },
    waitedMs: () => waited,
    yieldedPids: () => [...yielded]
  }
}
