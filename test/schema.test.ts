/**
 * Schema rollback that loses nothing: the streaming columns are copied to a backup table, dropped
 * in one ALTER TABLE, and the restore SQL from the report brings every value back.
 */
import { describe, expect, it } from '@jest/globals'
import pg from 'pg'
import { schemaPhase } from '../src/phases/schema.js'
import { testContext, testRequest, testRunbook } from './support/context.js'
import { queryRows, seededDatabase, whileAppWrites, withPg } from './support/postgres.js'
import { startTcpProxy, throughProxy } from './support/tcp-proxy.js'

const STREAMING = [
  'last_sequence_number',
  'connection_status',
  'stream_started_at',
  'partial_content'
]

const runbook = testRunbook({
  schema: [
    {
      table: 'outline_sessions',
      'drop-columns': STREAMING,
      'drop-indexes': ['uniq_outline_active_per_workflow'],
      'backup-table': 'outline_sessions_streaming_backup'
    }
  ]
})

/** A fingerprint of every streaming value of every row. */
const fingerprint = async (url: string, table = 'outline_sessions') =>
  (
    await queryRows<{ f: string; n: string }>(
      url,
      `SELECT md5(string_agg(concat_ws('|', id, ${STREAMING.join(', ')}), ',' ORDER BY id)) AS f,
              count(*)::text AS n FROM ${table}`
    )
  )[0]!

const columns = async (url: string) =>
  (
    await queryRows<{ c: string }>(
      url,
      `SELECT column_name AS c FROM information_schema.columns
        WHERE table_name = 'outline_sessions' ORDER BY ordinal_position`
    )
  ).map(r => r.c)

describe('schema rollback', () => {
  it('backs up, drops in one ALTER, restores every value; reruns converge', async () => {
    const url = await seededDatabase()
    const before = await fingerprint(url)
    const typesBefore = await queryRows(
      url,
      `SELECT column_name, data_type FROM information_schema.columns
        WHERE table_name = 'outline_sessions' AND column_name = ANY($1) ORDER BY column_name`,
      [STREAMING]
    )
    const ctx = testContext({
      runbook,
      request: testRequest({ runId: 'schema-1' }),
      env: { DATABASE_URL: url }
    })
    const [step] = schemaPhase.plan(runbook, ctx.request)
    expect(step!.changes.join('\n')).toMatch(
      /ALTER TABLE "outline_sessions" DROP COLUMN IF EXISTS "last_sequence_number", DROP COLUMN IF EXISTS "connection_status", DROP COLUMN IF EXISTS "stream_started_at", DROP COLUMN IF EXISTS "partial_content" — ACCESS EXCLUSIVE/
    )
    const notes = await schemaPhase.preflight!([step!], ctx)
    expect(notes.notes![0]!.changes!.join('\n')).toMatch(/~3000 rows/)

    const result = await schemaPhase.run(step!, ctx)
    expect(result.error).toBeUndefined()
    expect(result.status).toBe('succeeded')
    expect(await columns(url)).not.toEqual(expect.arrayContaining(['partial_content']))
    expect(result.changed).toContain(
      `dropped column(s) ${STREAMING.join(', ')} of outline_sessions`
    )
    // Every value is in the backup table.
    expect(await fingerprint(url, 'outline_sessions_streaming_backup')).toEqual(before)
    const recovery = result.recovery!.join('\n')
    expect(recovery).toMatch(/dropped data is in outline_sessions_streaming_backup/)

    // Rerun: nothing left to do, backup untouched.
    const rerun = await schemaPhase.run(step!, ctx)
    expect(rerun).toMatchObject({ status: 'succeeded', changed: [] })
    expect(await fingerprint(url, 'outline_sessions_streaming_backup')).toEqual(before)

    // Restore with the SQL from the report.
    const statements = recovery
      .split('\n')
      .slice(1)
      .filter(l => l.trim())
    await withPg(url, async c => {
      for (const sql of statements) await c.query(sql)
    })
    expect(await fingerprint(url)).toEqual(before)
    expect(
      await queryRows(
        url,
        `SELECT column_name, data_type FROM information_schema.columns
          WHERE table_name = 'outline_sessions' AND column_name = ANY($1) ORDER BY column_name`,
        [STREAMING]
      )
    ).toEqual(typesBefore)
    expect(
      await queryRows(
        url,
        `SELECT indexname FROM pg_indexes WHERE indexname = 'uniq_outline_active_per_workflow'`
      )
    ).toHaveLength(1)
  })

  it('waits for a long reader without queueing (the app is never blocked), then drops', async () => {
    const url = await seededDatabase()
    const reader = new pg.Client({ connectionString: url })
    await reader.connect()
    await reader.query('BEGIN')
    await reader.query('SELECT count(*) FROM outline_sessions')
    const columnsOnly = testRunbook({
      schema: [{ table: 'outline_sessions', 'drop-columns': STREAMING }]
    })
    const ctx = testContext({
      runbook: columnsOnly,
      request: testRequest({ runId: 'schema-reader' }),
      env: { DATABASE_URL: url },
      sleep: ms => new Promise(r => setTimeout(r, ms))
    })
    const [step] = schemaPhase.plan(columnsOnly, ctx.request)
    const running = schemaPhase.run(step!, ctx)
    await new Promise(r => setTimeout(r, 800))
    // Nothing waits for a lock on the table (an ALTER queued behind the reader would make the
    // app's writes queue behind it), and an app write gets its lock at once: a lock wait, not a
    // busy machine, is what lock_timeout measures.
    const waiting = await queryRows(
      url,
      `SELECT pid FROM pg_locks WHERE NOT granted AND relation = 'outline_sessions'::regclass`
    )
    expect(waiting).toEqual([])
    await withPg(url, async c => {
      await c.query(`SET lock_timeout = '200ms'`)
      await c.query(`UPDATE outline_sessions SET updated_at = now() WHERE id = 7`)
    })
    setTimeout(() => void reader.query('COMMIT').then(() => reader.end()), 1500)
    const result = await running
    expect(result.error).toBeUndefined()
    const timings = result.details!.timings as Record<string, number>
    expect(timings['waited for long transactions (not queued)']).toBeGreaterThan(500)
    expect(await columns(url)).not.toContain('partial_content')
  })

  it.each(['run', 'drill'] as const)(
    'holds the locks the app waits for during no round trip (%s): the app waits for the statements, not the network',
    async mode => {
      const url = await seededDatabase()
      // Our session reaches the server over a slow network; the app's does not.
      const latencyMs = 300
      const proxy = await startTcpProxy(Number(new URL(url).port), latencyMs)
      const columnsOnly = testRunbook({
        schema: [{ table: 'outline_sessions', 'drop-columns': STREAMING }]
      })
      const ctx = testContext({
        mode,
        runbook: columnsOnly,
        request: testRequest({ command: mode, runId: `schema-round-trips-${mode}` }),
        env: { DATABASE_URL: throughProxy(url, proxy) },
        sleep: ms => new Promise(r => setTimeout(r, ms))
      })
      const [step] = schemaPhase.plan(columnsOnly, ctx.request)
      // The app's writes conflict with the capture trigger's install and with the drop.
      const { result, waits: appWaits } = await whileAppWrites(
        url,
        'UPDATE outline_sessions SET updated_at = now() WHERE id = 7',
        () => schemaPhase[mode](step!, ctx)
      ).finally(() => proxy.close())
      expect(result.error).toBeUndefined()
      if (mode === 'run') expect(await columns(url)).not.toContain('partial_content')
      else expect(await columns(url)).toContain('partial_content')
      // Statement by statement, the locks would be held for several round trips (each at least
      // latencyMs) and some app write would have waited for all of them.
      expect(appWaits.length).toBeGreaterThan(10)
      expect(Math.max(...appWaits)).toBeLessThan(latencyMs)
    }
  )

  it('drills in a rolled-back transaction: nothing changes', async () => {
    const url = await seededDatabase()
    const before = await columns(url)
    const ctx = testContext({
      mode: 'drill',
      runbook,
      request: testRequest({ command: 'drill', runId: 'schema-drill' }),
      env: { DATABASE_URL: url }
    })
    const [step] = schemaPhase.plan(runbook, ctx.request)
    const result = await schemaPhase.drill(step!, ctx)
    expect(result.error).toBeUndefined()
    expect(result.details).toMatchObject({ copiedRows: 3000, wouldDrop: STREAMING })
    expect(Object.keys(result.details!.timings as object)).toEqual([
      'copy to backup',
      'waited for long transactions (not queued)',
      'lock wait',
      'drop columns'
    ])
    expect(await columns(url)).toEqual(before)
    expect(
      await queryRows(
        url,
        `SELECT 1 FROM pg_class WHERE relname = 'outline_sessions_streaming_backup'`
      )
    ).toEqual([])
  })

  it('refuses a backup table that belongs to something else, before changing anything', async () => {
    const url = await seededDatabase()
    await withPg(url, c => c.query('CREATE TABLE outline_sessions_streaming_backup (x int)'))
    const ctx = testContext({
      runbook,
      request: testRequest({ runId: 'schema-3' }),
      env: { DATABASE_URL: url }
    })
    const [step] = schemaPhase.plan(runbook, ctx.request)
    await expect(schemaPhase.preflight!([step!], ctx)).rejects.toThrow(
      /schema\[0\]\.backup-table: outline_sessions_streaming_backup already exists without column\(s\) id/
    )
  })
})
