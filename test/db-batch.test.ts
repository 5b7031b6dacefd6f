/**
 * Batched reset: rows changing during the run, a crash mid-batch and the rerun, the backup of
 * old values and undoing the reset from it.
 */
import { describe, expect, it } from '@jest/globals'
import pg from 'pg'
import { backupTableName, runBatchUpdate, type BatchUpdateSpec } from '../src/db/batch-update.js'
import { connect } from '../src/db/connection.js'
import { databasePhase } from '../src/phases/database.js'
import { testContext, testRequest, testRunbook } from './support/context.js'
import { createTestDatabase, queryRows, testDatabaseUrl, withPg } from './support/postgres.js'

const STUCK = `is_active = true AND (status = 'error' OR updated_at < now() - interval '30 minutes')`

/** 20k sessions with sparse ids; every 5th is stuck (4000); one active session per workflow. */
async function bigTable(): Promise<string> {
  const url = await createTestDatabase(testDatabaseUrl())
  await withPg(url, c =>
    c.query(`
      CREATE TABLE outline_sessions (
        id bigint PRIMARY KEY, workflow_id int NOT NULL, status text NOT NULL,
        is_active boolean NOT NULL, updated_at timestamptz NOT NULL);
      INSERT INTO outline_sessions
      SELECT g * 3, g, CASE WHEN g % 10 = 0 THEN 'error' ELSE 'streaming' END, g % 5 = 0,
             CASE WHEN g % 10 = 5 THEN now() - interval '2 hours' ELSE now() END
        FROM generate_series(1, 20000) g;
      ANALYZE outline_sessions;`)
  )
  return url
}

const spec: BatchUpdateSpec = {
  table: 'outline_sessions',
  key: 'id',
  set: { is_active: 'false' },
  where: STUCK,
  batchSize: 1000,
  pauseMs: 5,
  maxDurationMs: 60_000
}

const count = async (url: string, where: string) =>
  Number(
    (
      await queryRows<{ n: string }>(
        url,
        `SELECT count(*)::text AS n FROM outline_sessions WHERE ${where}`
      )
    )[0]!.n
  )

function ctxFor(url: string, runId: string) {
  return testContext({ request: testRequest({ runId }), env: { DATABASE_URL: url } })
}

describe('batch-update', () => {
  it('re-checks the condition per batch while the app changes rows, and records old values', async () => {
    const url = await bigTable()
    expect(await count(url, STUCK)).toBe(4000)
    const ctx = ctxFor(url, 'batch-live-1')
    const settings = ctx.database.settings()
    const backupTable = backupTableName('outline_sessions', 'batch-live-1')
    const app = new pg.Client({ connectionString: url })
    await app.connect()
    const client = await connect(settings, 'test')
    let healed = 0
    try {
      const res = await runBatchUpdate(client, spec, {
        backupTable,
        field: 'database.steps[0].batch-update',
        ladder: {
          lockTimeoutMs: 500,
          retries: 3,
          sleep: ms => new Promise(r => setTimeout(r, ms))
        },
        onBatch: async batch => {
          if (batch.batch !== 2) return
          // The app heals stuck sessions further on (they must NOT be reset) ...
          const r = await app.query(
            `UPDATE outline_sessions SET status = 'streaming', updated_at = now()
              WHERE id > 30000 AND id <= 36000 AND ${STUCK}`
          )
          healed = r.rowCount ?? 0
          // ... and a session in an already-processed range gets stuck (the second pass gets it).
          await app.query(
            `UPDATE outline_sessions SET status = 'error' WHERE id = 3 * 7 AND is_active = false`
          )
          await app.query(`UPDATE outline_sessions SET is_active = true WHERE id = 3 * 7`)
        }
      })
      expect(healed).toBe(400)
      expect(res.remaining).toBe(0)
      expect(res.passes).toBe(2)
      expect(res.rowsChanged).toBe(4000 - healed + 1)
      expect(res.batches).toBeGreaterThanOrEqual(40)
    } finally {
      await client.end()
      await app.end()
    }
    // Healed sessions stay active; nothing stuck remains.
    expect(await count(url, `is_active AND id > 30000 AND id <= 36000`)).toBe(400)
    expect(await count(url, STUCK)).toBe(0)
    // Old values recorded: one row per change, all were active.
    const backup = await queryRows<{ n: string; active: string }>(
      url,
      `SELECT count(*)::text AS n, count(*) FILTER (WHERE is_active)::text AS active FROM ${backupTable}`
    )
    expect(backup[0]).toEqual({ n: '3601', active: '3601' })
  })

  it('survives a crash mid-batch: the batch rolls back whole and a rerun converges; the reset can be undone', async () => {
    const url = await bigTable()
    const original = await queryRows(url, `SELECT id, is_active FROM outline_sessions ORDER BY id`)
    const runbook = testRunbook({
      database: {
        'lock-timeout': '30s',
        'lock-retries': 0,
        steps: [
          {
            name: 'reset',
            'batch-update': {
              table: 'outline_sessions',
              set: { is_active: 'false' },
              where: STUCK,
              'batch-size': 1000,
              pause: '1ms'
            }
          }
        ]
      }
    })
    // The app holds a row lock inside batch 3 (ids 6003..9000): our batch waits there...
    const app = new pg.Client({ connectionString: url })
    app.on('error', () => {})
    await app.connect()
    await app.query('BEGIN')
    await app.query(`SELECT 1 FROM outline_sessions WHERE id = 7500 FOR UPDATE`)
    const ctx = testContext({
      runbook,
      request: testRequest({ runId: 'crash-1' }),
      env: { DATABASE_URL: url }
    })
    const [step] = databasePhase.plan(runbook, ctx.request)
    const running = databasePhase.run(step!, ctx)
    // ... and "crashes" there: its backend is killed while the batch is half done.
    let killed = false
    for (let i = 0; i < 100 && !killed; i++) {
      await new Promise(r => setTimeout(r, 50))
      const rows = await queryRows(
        url,
        `SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity
          WHERE application_name = 'emergency-rollback database crash-1' AND wait_event_type = 'Lock'`
      )
      killed = rows.length > 0
    }
    expect(killed).toBe(true)
    const crashed = await running
    expect(crashed.status).toBe('failed')
    await app.query('ROLLBACK')
    await app.end()
    const firstBackup = backupTableName('outline_sessions', 'crash-1')
    // Exactly batches 1 and 2 committed (ids 3..6000: 400 stuck), nothing of batch 3.
    const kept = await queryRows<{ n: string; max: string }>(
      url,
      `SELECT count(*)::text AS n, max(id)::text AS max FROM ${firstBackup}`
    )
    expect(kept[0]!.n).toBe('400')
    expect(Number(kept[0]!.max)).toBeLessThanOrEqual(6000)
    expect(await count(url, STUCK)).toBe(3600)

    const rerunCtx = testContext({
      runbook,
      request: testRequest({ runId: 'crash-2' }),
      env: { DATABASE_URL: url }
    })
    const rerun = await databasePhase.run(step!, rerunCtx)
    expect(rerun.error).toBeUndefined()
    expect(rerun.status).toBe('succeeded')
    expect(rerun.details).toMatchObject({ rowsChanged: 3600, remaining: 0 })
    expect(await count(url, STUCK)).toBe(0)
    // Every stuck row reset exactly once across the two runs.
    const secondBackup = backupTableName('outline_sessions', 'crash-2')
    const overlap = await queryRows(
      url,
      `SELECT id FROM ${firstBackup} INTERSECT SELECT id FROM ${secondBackup}`
    )
    expect(overlap).toEqual([])
    expect(rerun.recovery!.join('\n')).toMatch(new RegExp(`old values are in ${secondBackup}`))

    // Undo with the restore SQL from the reports (newest run first).
    const restore1 = (rerun.details as { restoreSql: string }).restoreSql
    await withPg(url, async c => {
      await c.query(restore1)
      await c.query(restore1.split('crash_2').join('crash_1'))
    })
    expect(await queryRows(url, `SELECT id, is_active FROM outline_sessions ORDER BY id`)).toEqual(
      original
    )
  })

  it('drills the first batch in a rolled-back transaction and estimates the run', async () => {
    const url = await bigTable()
    const runbook = testRunbook({
      database: {
        steps: [
          {
            name: 'reset',
            'batch-update': {
              table: 'outline_sessions',
              set: { is_active: 'false' },
              where: STUCK,
              'batch-size': 2000
            }
          }
        ]
      }
    })
    const ctx = testContext({
      mode: 'drill',
      runbook,
      request: testRequest({ command: 'drill', runId: 'drill-1' }),
      env: { DATABASE_URL: url }
    })
    const [step] = databasePhase.plan(runbook, ctx.request)
    const result = await databasePhase.drill(step!, ctx)
    expect(result.status).toBe('succeeded')
    expect(result.details).toMatchObject({
      eligibleRows: 4000,
      firstBatchRows: 400,
      estimatedBatches: 10
    })
    expect(await count(url, STUCK)).toBe(4000)
    expect(
      await queryRows(
        url,
        `SELECT 1 FROM information_schema.tables WHERE table_schema = 'rollback_backup'`
      )
    ).toEqual([])
  })
})
