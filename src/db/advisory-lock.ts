/**
 * One runner at a time: a session-level pg_try_advisory_lock on a dedicated connection. Never
 * blocking and never transaction-scoped (a transaction-scoped lock around CONCURRENTLY work
 * deadlocks: flyway#1654). On contention we say who holds it, from pg_locks + pg_stat_activity.
 * The lock is per database; it is released when the holder's session ends, even after a crash.
 */
import type pg from 'pg'
import { RollbackError } from '../util/errors.js'
import { connect, type DbSettings } from './connection.js'

/** ASCII "erollbck": the same constant in every run, so two runs exclude each other. */
export const ADVISORY_LOCK_KEY = 0x65726f6c6c62636bn

export interface LockHolder {
  pid: number
  applicationName: string
  user: string
  client: string | null
  since: string | null
  state: string | null
  /** What the holder said about itself when it took the lock (runs of this tool: who, when, where). */
  note?: string
}

/** Refused because another session holds the lock (not because the database could not be asked). */
export class AdvisoryLockHeldError extends RollbackError {
  constructor(message: string, hint: string) {
    super(message, hint)
    this.name = 'AdvisoryLockHeldError'
  }
}

export interface AdvisoryLock {
  /** The dedicated session (do no work on it: its only job is to hold the lock). */
  client: pg.Client
  release(): Promise<void>
}

export async function lockHolder(client: pg.Client): Promise<LockHolder | undefined> {
  const high = Number(ADVISORY_LOCK_KEY >> 32n)
  const low = Number(ADVISORY_LOCK_KEY & 0xffffffffn)
  const res = await client.query<{
    pid: number
    application_name: string
    usename: string
    client_addr: string | null
    backend_start: Date | null
    state: string | null
    query: string | null
  }>(
    `SELECT a.pid, a.application_name, a.usename, a.client_addr::text AS client_addr,
            a.backend_start, a.state, a.query
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.database = (
              SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid AND l.objsubid = 1
      LIMIT 1`,
    [high, low]
  )
  const row = res.rows[0]
  if (!row) return undefined
  return {
    pid: row.pid,
    applicationName: row.application_name,
    user: row.usename,
    client: row.client_addr,
    since: row.backend_start ? row.backend_start.toISOString() : null,
    state: row.state,
    note: noteOf(row.query)
  }
}

/**
 * The holder's note travels in a comment of the query that took the lock: that query stays the
 * session's last one in pg_stat_activity for as long as the lock is held.
 */
function lockQuery(note: string | undefined): string {
  const comment = note ? ` /* ${NOTE_TAG}${note.replace(/\*\//g, '* /')} */` : ''
  return `SELECT pg_try_advisory_lock($1::bigint) AS ok${comment}`
}

const NOTE_TAG = 'emergency-rollback lock: '

function noteOf(query: string | null): string | undefined {
  const match = query ? /\/\* emergency-rollback lock: (.*) \*\/$/s.exec(query) : null
  return match?.[1]
}

export function describeHolder(h: LockHolder): string {
  if (h.note) return `${h.note} (pid ${h.pid})`
  const app = h.applicationName ? `"${h.applicationName}"` : 'an unnamed session'
  return `${app} (pid ${h.pid}, user ${h.user}${h.client ? `, from ${h.client}` : ''}${h.since ? `, connected since ${h.since}` : ''})`
}

/**
 * Takes the lock or fails fast saying who holds it. `note`: who we are, shown to whoever is
 * refused (one line: the holder, since when, a link to the run).
 */
export async function acquireRunLock(
  settings: DbSettings,
  purpose: string,
  note?: string
): Promise<AdvisoryLock> {
  const client = await connect(settings, `${purpose} lock`)
  try {
    const res = await client.query<{ ok: boolean }>(lockQuery(note), [ADVISORY_LOCK_KEY.toString()])
    if (!res.rows[0]?.ok) {
      const holder = await lockHolder(client)
      throw new AdvisoryLockHeldError(
        `another rollback is running on this database: the advisory lock is held by ${holder ? describeHolder(holder) : 'another session'}`,
        holder
          ? `wait for it to finish, or if it is stuck: SELECT pg_terminate_backend(${holder.pid})`
          : 'wait for the other run to finish'
      )
    }
  } catch (err) {
    await client.end().catch(() => {})
    throw err
  }
  let released = false
  return {
    client,
    async release() {
      if (released) return
      released = true
      // A session's advisory lock ends with the session: when the unlock cannot be sent (the
      // connection was lost), closing is enough, and the step's own outcome must not be masked.
      await client
        .query('SELECT pg_advisory_unlock($1::bigint)', [ADVISORY_LOCK_KEY.toString()])
        .catch(() => {})
      await client.end().catch(() => {})
    }
  }
}

/** Read-only probe for preflight: is another run holding the lock right now? */
export async function checkRunLockFree(client: pg.Client): Promise<void> {
  const holder = await lockHolder(client)
  if (holder) {
    throw new RollbackError(
      `another rollback is running on this database: the advisory lock is held by ${describeHolder(holder)}`,
      `wait for it to finish, or if it is stuck: SELECT pg_terminate_backend(${holder.pid})`
    )
  }
}

/** `fn` under the lock; when the whole run already holds it (`runLockHeld`), nothing is taken. */
export async function withRunLock<T>(
  settings: DbSettings,
  purpose: string,
  fn: () => Promise<T>
): Promise<T> {
  if (settings.runLockHeld) return fn()
  const lock = await acquireRunLock(settings, purpose)
  try {
    return await fn()
  } finally {
    await lock.release()
  }
}
