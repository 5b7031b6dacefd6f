/**
 * DROP INDEX CONCURRENTLY behind a long reader: the lock ladder succeeds once the reader ends and
 * fails cleanly (bounded, reported) when it never does; INVALID leftovers are dropped on rerun;
 * an index backing a constraint is detected and reported.
 */
import { describe, expect, it } from '@jest/globals'
import pg from 'pg'
import { databasePhase } from '../src/phases/database.js'
import { dropIndexConcurrently } from '../src/db/drop-index.js'
import { testContext, testRequest, testRunbook } from './support/context.js'
import { queryRows, seededDatabase, withPg } from './support/postgres.js'

const realSleep = (ms: number) => new Promise<void>(resolve => setTimeout(resolve, ms))
const INDEX = 'uniq_outline_active_per_workflow'

function setup(url: string, index: string, database: Record<string, unknown> = {}) {
  const runbook = testRunbook({
    database: {
      'lock-timeout': '200ms',
      ...database,
      steps: [{ name: 'drop', 'drop-index': index }]
    }
  })
  const ctx = testContext({
    runbook,
    request: testRequest({ runId: `drop-${Date.now()}` }),
    env: { DATABASE_URL: url },
    sleep: realSleep
  })
  const [step] = databasePhase.plan(runbook, ctx.request)
  return { ctx, step: step! }
}

/** A transaction that read the table and stays open (holds ACCESS SHARE) until end(). */
async function longReader(url: string) {
  const client = new pg.Client({ connectionString: url })
  client.on('error', () => {})
  await client.connect()
  await client.query('BEGIN')
  await client.query('SELECT count(*) FROM outline_sessions')
  return {
    async end() {
      await client.query('COMMIT').catch(() => {})
      await client.end()
    }
  }
}

const indexState = async (url: string, name: string) =>
  (
    await queryRows<{ valid: boolean }>(
      url,
      `SELECT i.indisvalid AS valid FROM pg_index i WHERE i.indexrelid = to_regclass($1)`,
      [name]
    )
  )[0]

describe('drop-index step', () => {
  it('waits behind a long reader in bounded rungs and succeeds once it ends; the app is not blocked', async () => {
    const url = await seededDatabase()
    const reader = await longReader(url)
    const { ctx, step } = setup(url, INDEX, { 'lock-retries': 10 })
    const running = databasePhase.run(step, ctx)
    // Meanwhile the app keeps reading and writing (SHARE UPDATE EXCLUSIVE does not block it).
    await realSleep(300)
    const started = Date.now()
    await withPg(url, async c => {
      await c.query(`SELECT * FROM outline_sessions WHERE id = 42`)
      await c.query(`UPDATE outline_sessions SET updated_at = now() WHERE id = 42`)
    })
    expect(Date.now() - started).toBeLessThan(500)
    setTimeout(() => void reader.end(), 900)
    const result = await running
    expect(result.error).toBeUndefined()
    expect(result.status).toBe('succeeded')
    const attempts = result.details!.lockAttempts as { outcome: string }[]
    expect(attempts.length).toBeGreaterThan(1)
    expect(attempts.at(-1)!.outcome).toBe('ok')
    expect(attempts[0]!.outcome).toBe('lock timeout')
    expect(await indexState(url, INDEX)).toBeUndefined()
    expect(result.recovery!.join('\n')).toMatch(
      /CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS uniq_outline_active_per_workflow ON public.outline_sessions/
    )
  })

  it('starts the next rung as soon as the reader ends, not a ladder sleep later', async () => {
    const url = await seededDatabase()
    const reader = await longReader(url)
    const c = new pg.Client({ connectionString: url })
    await c.connect()
    let released = 0
    // Rungs 20..100 ms; sleeps 75, 150, 300, 600, 1200, 2400 ms (no jitter): the reader ends
    // during the 1200 ms sleep, the 6th attempt would start about a second later.
    setTimeout(() => {
      released = Date.now()
      void reader.end()
    }, 1500)
    try {
      const res = await dropIndexConcurrently(c, INDEX, 'database.steps[0].drop-index', {
        lockTimeoutMs: 100,
        retries: 10,
        sleep: realSleep,
        random: () => 1
      })
      expect(res.dropped).toBe(true)
      expect(res.attempts[0]!.outcome).toBe('lock timeout')
      expect(released).toBeGreaterThan(0)
      expect(Date.now() - released).toBeLessThan(600)
    } finally {
      await c.end()
    }
  })

  it('fails cleanly when the reader never ends, and a rerun converges (INVALID leftover dropped)', async () => {
    const url = await seededDatabase()
    const reader = await longReader(url)
    const { ctx, step } = setup(url, INDEX, { 'lock-retries': 2 })
    const started = Date.now()
    const result = await databasePhase.run(step, ctx)
    const elapsed = Date.now() - started
    expect(result.status).toBe('failed')
    expect(result.error!.message).toMatch(/could not get the lock after 3 attempts/)
    expect(result.error!.hint).toMatch(/pg_stat_activity/)
    expect(elapsed).toBeLessThan(5000)
    // No session of ours is left waiting.
    const waiting = await queryRows(
      url,
      `SELECT pid FROM pg_stat_activity
        WHERE application_name LIKE 'emergency-rollback%' AND datname = current_database()`
    )
    expect(waiting).toEqual([])
    await reader.end()

    const again = setup(url, INDEX)
    const rerun = await databasePhase.run(again.step, again.ctx)
    expect(rerun.status).toBe('succeeded')
    expect(await indexState(url, INDEX)).toBeUndefined()
  })

  it('detects an INVALID leftover index and drops it', async () => {
    const url = await seededDatabase()
    // A concurrent build that fails (duplicates) leaves an INVALID index behind.
    await withPg(url, async c => {
      await c
        .query('CREATE UNIQUE INDEX CONCURRENTLY broken_status_idx ON outline_sessions (status)')
        .catch(() => {})
    })
    expect(await indexState(url, 'broken_status_idx')).toEqual({ valid: false })
    const { ctx, step } = setup(url, 'broken_status_idx')
    const notes = await databasePhase.preflight!([step], ctx)
    expect(JSON.stringify(notes)).toMatch(/INVALID leftover/)
    const result = await databasePhase.run(step, ctx)
    expect(result.status).toBe('succeeded')
    expect(result.changed).toEqual(['dropped index public.broken_status_idx (was INVALID)'])
    expect(await indexState(url, 'broken_status_idx')).toBeUndefined()
    // Rerun: nothing to do.
    const rerun = await databasePhase.run(step, ctx)
    expect(rerun).toMatchObject({ status: 'succeeded', changed: [] })
  })

  it('reports an index that backs a constraint instead of trying to drop it', async () => {
    const url = await seededDatabase()
    const { ctx, step } = setup(url, 'outline_sessions_pkey')
    await expect(databasePhase.preflight!([step], ctx)).rejects.toThrow(
      /backs primary key constraint outline_sessions_pkey on outline_sessions; DROP INDEX CONCURRENTLY cannot drop it/
    )
    const result = await databasePhase.run(step, ctx)
    expect(result.status).toBe('failed')
    expect(result.error!.hint).toMatch(/DROP CONSTRAINT/)
    expect(await indexState(url, 'outline_sessions_pkey')).toEqual({ valid: true })
  })
})
