/**
 * Schema rollback under concurrent writes: every value the table held when its columns were
 * dropped is in the backup, including values written after their range was copied (captured by
 * a trigger that is dropped with the columns). A connection dropped mid-copy converges on rerun.
 */
import { describe, expect, it } from '@jest/globals'
import pg from 'pg'
import { schemaPhase } from '../src/phases/schema.js'
import { CAPTURED, installCaptureSql, type CaptureSpec } from '../src/db/write-capture.js'
import { inspectSchema, type SchemaRollbackSpec } from '../src/db/column-backup.js'
import { copyColumns } from '../src/db/column-copy.js'
import { testContext, testRequest, testRunbook } from './support/context.js'
import { createTestDatabase, queryRows, testDatabaseUrl, withPg } from './support/postgres.js'

const ROWS = 35_000 // four copy ranges

async function table(): Promise<string> {
  const url = await createTestDatabase(testDatabaseUrl())
  await withPg(url, c =>
    c.query(`
      CREATE TABLE sessions (id bigint PRIMARY KEY, status text NOT NULL, payload text, seq int NOT NULL DEFAULT 0);
      INSERT INTO sessions SELECT g, 'ok', 'orig-' || g, 0 FROM generate_series(1, ${ROWS}) g;
      ANALYZE sessions;`)
  )
  return url
}

const runbook = testRunbook({
  schema: [
    {
      table: 'sessions',
      'drop-columns': ['payload', 'seq'],
      'backup-table': 'sessions_backup'
    }
  ]
})

/** The capture of the runbook's schema entry, for the tests that install it themselves. */
const capture: CaptureSpec = {
  table: 'sessions',
  key: 'id',
  columns: ['payload', 'seq'],
  backupTable: 'sessions_backup'
}

const realSleep = (ms: number) => new Promise<void>(r => setTimeout(r, Math.max(ms, 20)))

/** The schema phase's step and context for a run against url. */
function schemaStep(url: string, runId: string) {
  const ctx = testContext({
    runbook,
    request: testRequest({ runId }),
    env: { DATABASE_URL: url },
    sleep: realSleep
  })
  const [step] = schemaPhase.plan(runbook, ctx.request)
  return { ctx, step: step! }
}

/** An app writing payload/seq of random rows (and inserting new ones) until told to stop. */
function startWriter(url: string) {
  const written = new Map<number, { payload: string; seq: number }>()
  let stop = false
  let n = 0
  const done = (async () => {
    const app = new pg.Client({ connectionString: url })
    app.on('error', () => {})
    await app.connect()
    try {
      while (!stop) {
        n++
        const insert = n % 10 === 0
        const id = insert ? ROWS + n : 1 + Math.floor(Math.random() * ROWS)
        const payload = `w${n}`
        try {
          const res = insert
            ? await app.query<{ seq: number }>(
                `INSERT INTO sessions (id, status, payload, seq) VALUES ($1, 'ok', $2, 1) RETURNING seq`,
                [id, payload]
              )
            : await app.query<{ seq: number }>(
                `UPDATE sessions SET payload = $2, seq = seq + 1 WHERE id = $1 RETURNING seq`,
                [id, payload]
              )
          written.set(id, { payload, seq: res.rows[0]!.seq })
        } catch (err) {
          if ((err as { code?: string }).code === '42703') break // the columns are gone
          throw err
        }
      }
    } finally {
      await app.end()
    }
  })()
  return {
    written,
    count: () => n,
    stop: async () => {
      stop = true
      await done
    }
  }
}

const backup = async (url: string) =>
  new Map(
    (
      await queryRows<{ id: string; payload: string; seq: number }>(
        url,
        'SELECT id::text, payload, seq FROM sessions_backup'
      )
    ).map(r => [Number(r.id), { payload: r.payload, seq: r.seq }])
  )

const leftovers = (url: string) =>
  queryRows(
    url,
    `SELECT tgname AS name FROM pg_trigger WHERE tgname LIKE 'er_capture_%'
     UNION ALL SELECT proname FROM pg_proc WHERE proname LIKE 'er_capture_%'`
  )

describe('schema rollback under concurrent writes', () => {
  it('keeps every value written during the copy: the backup is complete at the drop', async () => {
    const url = await table()
    const { ctx, step } = schemaStep(url, 'capture-1')
    const writer = startWriter(url)
    const result = await schemaPhase.run(step, ctx)
    await writer.stop()
    expect(result.error).toBeUndefined()
    expect(result.status).toBe('succeeded')
    expect(writer.written.size).toBeGreaterThan(50)

    const kept = await backup(url)
    const ids = await queryRows<{ id: string }>(url, 'SELECT id::text FROM sessions')
    expect(kept.size).toBe(ids.length)
    const lost: number[] = []
    for (const { id } of ids) {
      const expected = writer.written.get(Number(id)) ?? { payload: `orig-${id}`, seq: 0 }
      if (JSON.stringify(kept.get(Number(id))) !== JSON.stringify(expected)) lost.push(Number(id))
    }
    expect(lost).toEqual([])
    expect(await leftovers(url)).toEqual([])
  }, 120_000)

  it('converges after the connection is dropped mid-copy: nothing lost, the capture kept running', async () => {
    const url = await table()
    let killed = false
    const crashCtx = testContext({
      runbook,
      request: testRequest({ runId: 'capture-crash' }),
      env: { DATABASE_URL: url },
      // Between two copy ranges: the run's session is terminated from another connection.
      sleep: async ms => {
        if (!killed) {
          killed = true
          await queryRows(
            url,
            `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
              WHERE application_name = 'emergency-rollback schema capture-crash'`
          )
        }
        await realSleep(ms)
      }
    })
    const [step] = schemaPhase.plan(runbook, crashCtx.request)
    const crashed = await schemaPhase.run(step!, crashCtx)
    expect(killed).toBe(true)
    expect(crashed.status).toBe('failed')
    // The columns are still there; the app keeps writing, also into the range already copied.
    await withPg(url, c =>
      c.query(
        `UPDATE sessions SET payload = 'after-crash-' || id, seq = seq + 1 WHERE id % 1000 = 7`
      )
    )
    expect(await leftovers(url)).toHaveLength(2)

    const writer = startWriter(url)
    const rerunCtx = testContext({
      runbook,
      request: testRequest({ runId: 'capture-rerun' }),
      env: { DATABASE_URL: url },
      sleep: realSleep
    })
    const rerun = await schemaPhase.run(step!, rerunCtx)
    await writer.stop()
    expect(rerun.error).toBeUndefined()
    expect(rerun.status).toBe('succeeded')
    const kept = await backup(url)
    const ids = await queryRows<{ id: string }>(url, 'SELECT id::text FROM sessions')
    expect(kept.size).toBe(ids.length)
    for (const { id } of ids) {
      const n = Number(id)
      const expected =
        writer.written.get(n) ??
        (n % 1000 === 7
          ? { payload: `after-crash-${id}`, seq: 1 }
          : { payload: `orig-${id}`, seq: 0 })
      expect([n, kept.get(n)]).toEqual([n, expected])
    }
    expect(await leftovers(url)).toEqual([])
  }, 120_000)

  it('installs and reinstalls the capture without queueing behind a long reader', async () => {
    const url = await table()
    await withPg(url, c =>
      c.query(
        `CREATE TABLE sessions_backup (id bigint PRIMARY KEY, payload text, seq int, ${CAPTURED} boolean NOT NULL DEFAULT false)`
      )
    )
    // A report query's transaction holds ACCESS SHARE on the table: anything that needs ACCESS
    // EXCLUSIVE would queue behind it, and every app query behind that.
    const reader = new pg.Client({ connectionString: url })
    await reader.connect()
    await reader.query('BEGIN')
    await reader.query('SELECT id FROM sessions LIMIT 1')
    try {
      for (const installed of [false, true]) {
        await withPg(url, async c => {
          await c.query('BEGIN')
          await c.query(`SET LOCAL lock_timeout = '200ms'`)
          for (const sql of installCaptureSql(capture, installed)) await c.query(sql)
          await c.query('COMMIT')
        })
      }
      await withPg(url, c => c.query(`UPDATE sessions SET payload = 'seen' WHERE id = 5`))
    } finally {
      await reader.query('COMMIT')
      await reader.end()
    }
    expect((await backup(url)).get(5)).toEqual({ payload: 'seen', seq: 0 })
  }, 60_000)

  it('copies a range again as an upsert when the trigger wrote one of its keys meanwhile', async () => {
    const url = await table()
    const spec: SchemaRollbackSpec = {
      table: 'sessions',
      key: 'id',
      dropColumns: ['payload', 'seq'],
      dropIndexes: [],
      backupTable: 'sessions_backup'
    }
    const app = new pg.Client({ connectionString: url })
    await app.connect()
    const c = new pg.Client({ connectionString: url })
    await c.connect()
    try {
      const inspection = await inspectSchema(c, spec)
      const copied = await copyColumns(c, spec, inspection, realSleep, async () => {
        for (const sql of installCaptureSql(capture, false)) await c.query(sql)
        // The app writes id 5 (in the first range) and commits while the copy's INSERT of that
        // range waits on the key: that INSERT fails on it, the upsert keeps the app's value.
        await app.query('BEGIN')
        await app.query(`UPDATE sessions SET payload = 'app', seq = 9 WHERE id = 5`)
        setTimeout(() => void app.query('COMMIT'), 300)
      })
      expect(copied).toBe(ROWS - 1)
    } finally {
      await app.end()
      await c.end()
    }
    const kept = await backup(url)
    expect(kept.size).toBe(ROWS)
    expect(kept.get(5)).toEqual({ payload: 'app', seq: 9 })
    expect(kept.get(6)).toEqual({ payload: 'orig-6', seq: 0 })
  }, 60_000)

  it('removes the capture trigger that a stopped run with another run id left, in the drop (the drill reports it)', async () => {
    const url = await table()
    // An earlier run (another run id, so another backup table) stopped after installing its
    // capture: its trigger depends on the columns and still writes to its backup.
    const earlier: CaptureSpec = { ...capture, backupTable: 'sessions_backup_earlier' }
    await withPg(url, async c => {
      await c.query(
        `CREATE TABLE sessions_backup_earlier AS SELECT id, payload, seq FROM sessions WITH NO DATA`
      )
      await c.query(
        `ALTER TABLE sessions_backup_earlier ADD PRIMARY KEY (id), ADD COLUMN ${CAPTURED} boolean NOT NULL DEFAULT false`
      )
      for (const sql of installCaptureSql(earlier, false)) await c.query(sql)
      await c.query(`UPDATE sessions SET payload = 'seen-by-earlier' WHERE id = 3`)
    })
    const triggers = () =>
      queryRows(
        url,
        `SELECT tgname FROM pg_trigger WHERE tgrelid = 'sessions'::regclass AND NOT tgisinternal`
      )
    const drillCtx = testContext({
      mode: 'drill',
      runbook,
      request: testRequest({ command: 'drill', runId: 'later-drill' }),
      env: { DATABASE_URL: url },
      sleep: realSleep
    })
    const [drillStep] = schemaPhase.plan(runbook, drillCtx.request)
    const drilled = await schemaPhase.drill(drillStep!, drillCtx)
    expect(drilled.error).toBeUndefined()
    expect(drilled.details?.strayCaptures).toEqual(['er_capture_sessions_backup_earlier'])
    expect(await triggers()).toEqual([{ tgname: 'er_capture_sessions_backup_earlier' }])

    const { ctx, step } = schemaStep(url, 'later-run')
    const result = await schemaPhase.run(step, ctx)
    expect(result.error).toBeUndefined()
    expect(result.changed.join('\n')).toMatch(
      /removed the capture trigger\(s\) er_capture_sessions_backup_earlier that an earlier run left/
    )
    expect(await triggers()).toEqual([])
    expect(
      await queryRows(url, `SELECT proname FROM pg_proc WHERE proname LIKE 'er_capture%'`)
    ).toEqual([])
    // The earlier run's backup is kept; this run's has every row.
    expect(await queryRows(url, 'SELECT payload FROM sessions_backup_earlier')).toEqual([
      { payload: 'seen-by-earlier' }
    ])
    expect(await queryRows(url, 'SELECT count(*)::int AS n FROM sessions_backup')).toEqual([
      { n: ROWS }
    ])
  }, 60_000)

  it('installs the capture once a conflicting lock holder (autovacuum, say) is gone, never queueing in front of the app', async () => {
    const url = await table()
    // Holds SHARE UPDATE EXCLUSIVE, as autovacuum does after a big batch-update, for 1.5 s.
    const holder = new pg.Client({ connectionString: url })
    await holder.connect()
    await holder.query('BEGIN')
    await holder.query('LOCK TABLE sessions IN SHARE UPDATE EXCLUSIVE MODE')
    const released = realSleep(1500).then(() => holder.query('COMMIT'))
    const { ctx, step } = schemaStep(url, 'capture-road')
    const running = schemaPhase.run(step, ctx)
    // The app keeps writing meanwhile: no write waits behind a queued CREATE TRIGGER.
    const app = new pg.Client({ connectionString: url })
    await app.connect()
    let slowest = 0
    try {
      for (let i = 0; i < 60; i++) {
        const started = Date.now()
        await app.query(`UPDATE sessions SET status = 'ok' WHERE id = $1`, [1 + i])
        slowest = Math.max(slowest, Date.now() - started)
        await realSleep(20)
      }
    } finally {
      await app.end()
    }
    await released
    await holder.end()
    const result = await running
    expect(result.status).toBe('succeeded')
    expect(slowest).toBeLessThan(250)
  }, 60_000)
})
