/**
 * Short lock waits, retried: each attempt runs with a small lock_timeout; on SQLSTATE 55P03
 * (lock_not_available) we sleep and retry with a longer timeout (GitLab's with_lock_retries
 * shape: 100 ms, 200 ms, ... up to the runbook's lock-timeout, sleeps growing with jitter). When
 * the ladder runs out the step fails; we never fall back to waiting without a timeout.
 */
import type pg from 'pg'
import { RollbackError } from '../model.js'
import { pgErrorCode } from './connection.js'

export interface LadderOptions {
  /** The runbook's lock-timeout: the top rung. */
  lockTimeoutMs: number
  /** Retries after the first attempt (runbook lock-retries). */
  retries: number
  sleep(ms: number): Promise<void>
  /** 0..1; defaults to Math.random (tests pass a constant). */
  random?: () => number
  log?: (message: string) => void
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
