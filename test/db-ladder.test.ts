import { describe, expect, it } from '@jest/globals'
import { backupTableName } from '../src/db/batch-update.js'
import pg from 'pg'
import {
  ladderSleep,
  ladderTimeouts,
  waitForClearRoad,
  waitForOlderSnapshots
} from '../src/db/lock-ladder.js'
import { conflictingModes, LOCK_LEVELS, pgLockMode } from '../src/db/lock-modes.js'
import { createTestDatabase, testDatabaseUrl, withPg } from './support/postgres.js'

describe('lock ladder shape', () => {
  it('climbs to the runbook lock-timeout in five rungs, then stays there', () => {
    expect(ladderTimeouts(500, 8)).toEqual([100, 200, 300, 400, 500, 500, 500, 500, 500])
    expect(ladderTimeouts(200, 0)).toEqual([40])
  })

  it('sleeps 50 ms doubling up to 5 s, with up to 50% jitter', () => {
    expect([1, 2, 3, 8, 20].map(i => ladderSleep(i, () => 0))).toEqual([50, 100, 200, 5000, 5000])
    expect(ladderSleep(1, () => 1)).toBe(75)
  })
})

describe('backup table names', () => {
  it('are per run, sanitised and fit in 63 bytes', () => {
    expect(backupTableName('public.outline_sessions', '12345678-2')).toBe(
      'rollback_backup.outline_sessions_12345678_2'
    )
    const long = backupTableName('a'.repeat(60), 'run-'.repeat(20))
    expect(long.split('.')[1]!.length).toBeLessThanOrEqual(63)
  })
})

describe('conflictingModes (PostgreSQL table-lock conflicts)', () => {
  const levels = LOCK_LEVELS.filter(l => l !== 'none')

  it('is symmetric; ACCESS EXCLUSIVE conflicts with all; SHARE UPDATE EXCLUSIVE with autovacuum, not the app', () => {
    for (const a of levels) {
      for (const b of levels) {
        expect([a, b, conflictingModes(a).includes(pgLockMode(b))]).toEqual([
          a,
          b,
          conflictingModes(b).includes(pgLockMode(a))
        ])
      }
    }
    expect(conflictingModes('ACCESS EXCLUSIVE')).toHaveLength(levels.length)
    expect(conflictingModes('ACCESS SHARE')).toEqual(['AccessExclusiveLock'])
    // Our road's own request, SHARE UPDATE EXCLUSIVE: conflicts with autovacuum's, not the app's.
    const sue = conflictingModes('SHARE UPDATE EXCLUSIVE')
    expect(sue).toContain('ShareUpdateExclusiveLock')
    for (const app of ['AccessShareLock', 'RowShareLock', 'RowExclusiveLock']) {
      expect(sue).not.toContain(app)
    }
  })

  it('matches what PostgreSQL does: a second session gets mode b at once exactly when b does not conflict with a', async () => {
    const url = await createTestDatabase(testDatabaseUrl())
    await withPg(url, c => c.query('CREATE TABLE t (id int)'))
    await withPg(url, async holder => {
      await withPg(url, async other => {
        for (const a of levels) {
          await holder.query('BEGIN')
          await holder.query(`LOCK TABLE t IN ${a} MODE`)
          for (const b of levels) {
            await other.query('BEGIN')
            const granted = await other
              .query(`LOCK TABLE t IN ${b} MODE NOWAIT`)
              .then(() => true)
              .catch(() => false)
            await other.query('ROLLBACK')
            expect([a, b, conflictingModes(a).includes(pgLockMode(b))]).toEqual([a, b, !granted])
          }
          await holder.query('ROLLBACK')
        }
      })
    })
  })
})

describe('waiting for a clear road (without queueing)', () => {
  const options = {
    olderThanMs: 100,
    maxWaitMs: 5000,
    pollMs: 20,
    sleep: (ms: number) => new Promise<void>(r => setTimeout(r, ms))
  }

  /** A session that begins a transaction on t, holds it `ms`, and then commits. */
  async function holder(url: string, sql: string, ms: number) {
    const c = new pg.Client({ connectionString: url })
    await c.connect()
    await c.query('BEGIN')
    await c.query(sql)
    const begun = Date.now()
    const ended = new Promise(r => setTimeout(r, ms))
      .then(() => c.query('COMMIT'))
      .finally(() => c.end())
    return { begun, ended }
  }

  // A transaction that has only just begun is younger than the "long" threshold, as the app's
  // short ones are: it must still be waited for if it lasts, whatever the threshold.
  it.each([
    { what: 'a lock holder', wait: waitForClearRoad, sql: 'SELECT count(*) FROM t' },
    {
      what: 'an older snapshot',
      wait: (c: pg.Client, _t: string, o: typeof options) => waitForOlderSnapshots(c, o),
      // A snapshot held between statements: REPEATABLE READ keeps the first one.
      sql: 'SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM t'
    }
  ])('waits for $what that began just before the look', async ({ wait, sql }) => {
    const url = await createTestDatabase(testDatabaseUrl())
    await withPg(url, c => c.query('CREATE TABLE t (id int)'))
    await withPg(url, async client => {
      const held = await holder(url, sql, 600)
      await wait(client, 't', options)
      const clearAfter = Date.now() - held.begun
      await held.ended
      expect(clearAfter).toBeGreaterThanOrEqual(550)
    })
  })

  it('does not wait for the short transactions of a busy app', async () => {
    const url = await createTestDatabase(testDatabaseUrl())
    await withPg(url, c => c.query('CREATE TABLE t (id int)'))
    const app = new pg.Client({ connectionString: url })
    await app.connect()
    let writing = true
    // Back to back 30 ms write transactions: a young holder is there at almost every look.
    const load = (async () => {
      while (writing) {
        await app.query('BEGIN')
        await app.query('INSERT INTO t VALUES (1)')
        await new Promise(r => setTimeout(r, 30))
        await app.query('COMMIT')
      }
    })()
    try {
      await withPg(url, async client => {
        const road = await waitForClearRoad(client, 't', options)
        expect(road.waitedMs).toBeLessThan(1000)
      })
    } finally {
      writing = false
      await load
      await app.end()
    }
  })
})
