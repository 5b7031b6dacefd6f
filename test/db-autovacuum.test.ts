/**
 * Autovacuum on the table does not hold up the schema steps, and making it give way costs the
 * app nothing: a cluster of its own with autovacuum visiting every second, a table it vacuums
 * slowly (cost limit 1), and an app writing to that table throughout.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { databasePhase } from '../src/phases/database.js'
import { schemaPhase } from '../src/phases/schema.js'
import { askAutovacuumToYield } from '../src/db/autovacuum-yield.js'
import { testContext, testRequest, testRunbook } from './support/context.js'
import {
  createTestDatabase,
  queryRows,
  startThrowawayPostgres,
  testDatabaseUrl,
  whileAppWrites,
  withPg,
  type ThrowawayPostgres
} from './support/postgres.js'

const ROWS = 60_000

let server: ThrowawayPostgres

beforeAll(async () => {
  server = await startThrowawayPostgres({ settings: { autovacuum_naptime: '1' } })
}, 120_000)

afterAll(async () => {
  await server?.stop()
})

/** A table with dead rows that autovacuum is vacuuming (slowly) when this returns. */
async function tableUnderAutovacuum(): Promise<string> {
  const url = await createTestDatabase(server.url, 'er_autovacuum')
  await withPg(url, async c => {
    await c.query(`
      CREATE TABLE sessions (id bigint PRIMARY KEY, status text NOT NULL, payload text)
        WITH (autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0,
              autovacuum_analyze_threshold = 0, autovacuum_analyze_scale_factor = 0,
              autovacuum_vacuum_cost_delay = 100, autovacuum_vacuum_cost_limit = 1);
      INSERT INTO sessions SELECT g, 'ok', 'p-' || g FROM generate_series(1, ${ROWS}) g;
      CREATE INDEX sessions_payload ON sessions (payload);
      UPDATE sessions SET status = 'stuck' WHERE id % 3 = 0;`)
  })
  await waitForAutovacuum(url)
  return url
}

async function waitForAutovacuum(url: string): Promise<number> {
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    const rows = await autovacuumsOn(url)
    if (rows.length > 0) return rows[0]!.pid
    await new Promise(r => setTimeout(r, 200))
  }
  throw new Error('autovacuum never started on sessions')
}

async function autovacuumsOn(url: string): Promise<{ pid: number }[]> {
  return queryRows<{ pid: number }>(
    url,
    `SELECT pid FROM pg_stat_activity
      WHERE backend_type = 'autovacuum worker' AND datname = current_database()
        AND query LIKE '%sessions%'`
  )
}

/**
 * Rungs of 600 ms and more (lock-timeout 3 s): an app write queued behind one of ours would wait
 * at least that long, well apart from what a loaded test machine's scheduler adds.
 */
const LOCK_TIMEOUT = '3s'
const QUEUED_BEHIND_A_RUNG_MS = 500

const runbook = testRunbook({
  database: { 'lock-timeout': LOCK_TIMEOUT },
  schema: [{ table: 'sessions', 'drop-columns': ['payload'], 'backup-table': 'sessions_backup' }]
})

function step(url: string, mode: 'run' | 'drill') {
  const ctx = testContext({
    mode,
    runbook,
    request: testRequest({ command: mode, runId: `autovacuum-${mode}` }),
    env: { DATABASE_URL: url },
    sleep: ms => new Promise(r => setTimeout(r, ms))
  })
  const [planned] = schemaPhase.plan(runbook, ctx.request)
  return { ctx, planned: planned! }
}

const APP_WRITE = `UPDATE sessions SET status = 'ok' WHERE id = 7`

describe('schema steps with autovacuum on the table', () => {
  it('a run makes autovacuum give way (index drop, capture, drop) and the app never waits for it', async () => {
    const url = await tableUnderAutovacuum()
    const { ctx, planned } = step(url, 'run')
    const started = Date.now()
    const { result, waits } = await whileAppWrites(url, APP_WRITE, () =>
      schemaPhase.run(planned, ctx)
    )
    expect(result.error).toBeUndefined()
    // Vacuumed at cost limit 1, the table would hold autovacuum for minutes.
    expect(Date.now() - started).toBeLessThan(30_000)
    expect(result.changed.join('\n')).toMatch(/made autovacuum give way on sessions \(pid \d+/)
    expect((result.details!.yieldedAutovacuums as number[]).length).toBeGreaterThan(0)
    expect(await queryRows(url, 'SELECT count(*)::int AS n FROM sessions_backup')).toEqual([
      { n: ROWS }
    ])
    expect(waits.length).toBeGreaterThan(10)
    expect(Math.max(...waits)).toBeLessThan(QUEUED_BEHIND_A_RUNG_MS)
  }, 120_000)

  it('a drill makes autovacuum give way inside its transaction and the app never waits for it', async () => {
    const url = await tableUnderAutovacuum()
    const { ctx, planned } = step(url, 'drill')
    const { result, waits } = await whileAppWrites(url, APP_WRITE, () =>
      schemaPhase.drill(planned, ctx)
    )
    expect({ error: result.error, log: ctx.log.lines }).toEqual({
      error: undefined,
      log: [
        expect.stringMatching(/^info: autovacuum \(pid \d+\) was working on sessions: it gave way/)
      ]
    })
    expect((result.details!.yieldedAutovacuums as number[]).length).toBe(1)
    expect(
      await queryRows(
        url,
        `SELECT count(*)::int AS n FROM pg_class WHERE relname = 'sessions_backup'`
      )
    ).toEqual([{ n: 0 }])
    expect(waits.length).toBeGreaterThan(10)
    expect(Math.max(...waits)).toBeLessThan(QUEUED_BEHIND_A_RUNG_MS)
  }, 120_000)
})

describe('sql steps with autovacuum on the table', () => {
  it('a statement that needs a strong lock makes autovacuum give way; the app never waits for it', async () => {
    const url = await tableUnderAutovacuum()
    const sqlRunbook = testRunbook({
      database: {
        'lock-timeout': LOCK_TIMEOUT,
        steps: [{ name: 'custom', sql: 'ALTER TABLE sessions ADD COLUMN note text' }]
      }
    })
    const ctx = testContext({
      runbook: sqlRunbook,
      request: testRequest({ runId: 'autovacuum-sql' }),
      env: { DATABASE_URL: url },
      sleep: ms => new Promise(r => setTimeout(r, ms))
    })
    const [planned] = databasePhase.plan(sqlRunbook, ctx.request)
    const { result, waits } = await whileAppWrites(url, APP_WRITE, () =>
      databasePhase.run(planned!, ctx)
    )
    expect(result.error).toBeUndefined()
    expect(result.changed[0]).toMatch(
      /^ran: ALTER TABLE sessions ADD COLUMN note text \(autovacuum, pid \d+, was made to give way first\)/
    )
    expect(waits.length).toBeGreaterThan(10)
    expect(Math.max(...waits)).toBeLessThan(QUEUED_BEHIND_A_RUNG_MS)
  }, 120_000)
})

describe('askAutovacuumToYield without autovacuum', () => {
  it('outside a transaction: granted at once, nothing held afterwards', async () => {
    const url = await createTestDatabase(testDatabaseUrl())
    await withPg(url, async c => {
      await c.query('CREATE TABLE t (id int)')
      const outcome = await askAutovacuumToYield(c, 't', 30_000)
      expect(outcome.yielded).toBe(true)
      const held = await c.query(
        `SELECT count(*)::int AS n FROM pg_locks WHERE pid = pg_backend_pid() AND relation = 't'::regclass`
      )
      expect(held.rows).toEqual([{ n: 0 }])
      expect((await c.query('SHOW lock_timeout')).rows).toEqual([{ lock_timeout: '0' }])
    })
  })

  it('inside a transaction: the lock is kept to its end and lock_timeout is left as it was', async () => {
    const url = await createTestDatabase(testDatabaseUrl())
    await withPg(url, async c => {
      await c.query('CREATE TABLE t (id int)')
      await c.query('BEGIN')
      await c.query(`SET LOCAL lock_timeout = '123ms'`)
      const outcome = await askAutovacuumToYield(c, 't', 30_000, true)
      expect(outcome.yielded).toBe(true)
      const held = await c.query(
        `SELECT mode FROM pg_locks WHERE pid = pg_backend_pid() AND relation = 't'::regclass`
      )
      expect(held.rows).toEqual([{ mode: 'ShareUpdateExclusiveLock' }])
      expect((await c.query('SHOW lock_timeout')).rows).toEqual([{ lock_timeout: '123ms' }])
      await c.query('ROLLBACK')
    })
  })

  it('gives up within deadlock_timeout and its margin when a client (not autovacuum) holds the table', async () => {
    const url = await createTestDatabase(testDatabaseUrl())
    await withPg(url, c => c.query('CREATE TABLE t (id int)'))
    await withPg(url, async holder => {
      await holder.query('BEGIN')
      await holder.query('LOCK TABLE t IN SHARE UPDATE EXCLUSIVE MODE')
      await withPg(url, async c => {
        const outcome = await askAutovacuumToYield(c, 't', 30_000)
        expect(outcome).toMatchObject({ yielded: false, reason: 'it did not give way in time' })
        expect((await c.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }])
      })
      await holder.query('ROLLBACK')
    })
  }, 30_000)
})
