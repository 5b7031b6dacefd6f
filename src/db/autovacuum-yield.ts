/**
 * Making autovacuum give way without making the app wait.
 *
 * After a big batch-update autovacuum often holds the table (SHARE UPDATE EXCLUSIVE) when a
 * step needs a stronger lock. PostgreSQL cancels an autovacuum worker that blocks a lock
 * request for deadlock_timeout (unless it runs to prevent wraparound), and no privilege is
 * needed for that. So we queue a request for SHARE UPDATE EXCLUSIVE itself: it conflicts with
 * autovacuum's lock, hence the cancel, but not with the app's reads and writes (ACCESS SHARE,
 * ROW SHARE, ROW EXCLUSIVE), which never queue behind it. We release it at once: the worker
 * that was cancelled does not come back to the table before the launcher's next round
 * (autovacuum_naptime), while our own attempt follows within milliseconds.
 */
import type pg from 'pg'
import { ident, inOneRoundTrip, pgErrorCode } from './connection.js'

/** How long past deadlock_timeout we wait for the cancelled worker to release the table. */
export const YIELD_MARGIN_MS = 2_000

const SAVEPOINT = 'er_autovacuum_yield'

/** Errors of the request after which we wait for autovacuum instead. */
const NOT_YIELDED: Record<string, string> = {
  '55P03': 'it did not give way in time',
  '42501': 'no privilege to LOCK the table',
  '42809': 'not a table (an index: LOCK TABLE does not apply)'
}

/**
 * The first statement of a transaction that asks for a stronger lock on `table`: if autovacuum
 * has started on the table since the road was checked, this request, which the app does not
 * queue behind, is the one that waits (and times out), not the strong one the app would.
 */
export function autovacuumGuardSql(table: string): string {
  return `LOCK TABLE ${ident(table)} IN SHARE UPDATE EXCLUSIVE MODE`
}

/** The text pg_stat_activity shows for an autovacuum that PostgreSQL never cancels. */
export function isWraparoundVacuum(query: string): boolean {
  return query.includes('(to prevent wraparound)')
}

export interface YieldOutcome {
  yielded: boolean
  waitedMs: number
  /** Why it did not yield, when it did not. */
  reason?: string
}

/**
 * Queues SHARE UPDATE EXCLUSIVE on `table` for at most deadlock_timeout + YIELD_MARGIN_MS (and
 * never past budgetMs). Outside a transaction the lock is released at once; inside one
 * (inTransaction) it is taken under a savepoint and kept to the end of that transaction, which
 * keeps autovacuum off the table meanwhile, and lock_timeout is left as it was.
 */
export async function askAutovacuumToYield(
  client: pg.Client,
  table: string,
  budgetMs: number,
  inTransaction = false
): Promise<YieldOutcome> {
  const started = Date.now()
  // The name as PostgreSQL resolves and quotes it, the same relation pg_locks was read for.
  const res = await client.query<{ ms: number; lock_timeout: string; relation: string | null }>(
    `SELECT setting::int AS ms, current_setting('lock_timeout') AS lock_timeout,
            to_regclass($1)::text AS relation
       FROM pg_settings WHERE name = 'deadlock_timeout'`,
    [table]
  )
  const relation = res.rows[0]?.relation
  if (!relation) return { yielded: false, waitedMs: 0, reason: `${table} not found` }
  const timeoutMs = (res.rows[0]?.ms ?? 1000) + YIELD_MARGIN_MS
  if (timeoutMs > budgetMs) {
    return {
      yielded: false,
      waitedMs: 0,
      reason: `deadlock_timeout + ${YIELD_MARGIN_MS} ms exceeds the time left (${budgetMs} ms)`
    }
  }
  const lock = [
    `SET LOCAL lock_timeout = ${timeoutMs}`,
    `LOCK TABLE ${relation} IN SHARE UPDATE EXCLUSIVE MODE`
  ]
  const previous = client.escapeLiteral(res.rows[0]?.lock_timeout ?? '0')
  try {
    await inOneRoundTrip(
      client,
      inTransaction
        ? [
            `SAVEPOINT ${SAVEPOINT}`,
            ...lock,
            `SET LOCAL lock_timeout = ${previous}`,
            `RELEASE SAVEPOINT ${SAVEPOINT}`
          ]
        : ['BEGIN', ...lock, 'COMMIT']
    )
    return { yielded: true, waitedMs: Date.now() - started }
  } catch (err) {
    await client
      .query(
        inTransaction
          ? `ROLLBACK TO SAVEPOINT ${SAVEPOINT}; RELEASE SAVEPOINT ${SAVEPOINT}`
          : 'ROLLBACK'
      )
      .catch(() => {})
    const code = pgErrorCode(err)
    const reason = code ? NOT_YIELDED[code] : undefined
    if (!reason) throw err
    return { yielded: false, waitedMs: Date.now() - started, reason }
  }
}

/** The report's line for the workers that gave way on `table`. */
export function gaveWayLine(table: string, pids: number[]): string {
  return `made autovacuum give way on ${table} (pid ${pids.join(', ')}) rather than wait for it; it vacuums the table again on a later round`
}
