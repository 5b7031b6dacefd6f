/** sql steps: classified and run statement by statement; SQL errors reported with the field. */
import { describe, expect, it } from '@jest/globals'
import pg from 'pg'
import { databasePhase } from '../src/phases/database.js'
import { testContext, testRequest, testRunbook } from './support/context.js'
import { queryRows, seededDatabase, whileAppWrites, withPg } from './support/postgres.js'
import { startTcpProxy, throughProxy } from './support/tcp-proxy.js'

function setup(url: string, sql: string, mode: 'run' | 'drill' = 'run', lockTimeout = '500ms') {
  const runbook = testRunbook({
    database: { 'lock-timeout': lockTimeout, steps: [{ name: 'custom', sql }] }
  })
  const ctx = testContext({
    mode,
    runbook,
    request: testRequest({ command: mode, runId: `sql-${Date.now()}` }),
    env: { DATABASE_URL: url },
    sleep: ms => new Promise(r => setTimeout(r, ms))
  })
  return { ctx, step: databasePhase.plan(runbook, ctx.request)[0]! }
}

const SQL = `UPDATE outline_sessions SET error_message = 'reset by rollback' WHERE status = 'error' AND is_active;
DROP INDEX CONCURRENTLY IF EXISTS uniq_outline_active_per_workflow;
DROP INDEX CONCURRENTLY IF EXISTS outline_sessions_workflow_idx`

describe('sql steps', () => {
  it('shows each statement with its lock level and runs CONCURRENTLY statements on their own', async () => {
    const url = await seededDatabase()
    const { ctx, step } = setup(url, SQL)
    const notes = await databasePhase.preflight!([step], ctx)
    expect(notes.notes![0]!.changes).toEqual([
      expect.stringMatching(
        /^UPDATE outline_sessions .* — ROW EXCLUSIVE lock on outline_sessions; own transaction, lock_timeout ladder$/
      ),
      'DROP INDEX CONCURRENTLY IF EXISTS uniq_outline_active_per_workflow — SHARE UPDATE EXCLUSIVE lock on uniq_outline_active_per_workflow; alone, outside any transaction, lock_timeout ladder',
      expect.stringMatching(/outline_sessions_workflow_idx — SHARE UPDATE EXCLUSIVE/)
    ])
    const result = await databasePhase.run(step, ctx)
    expect(result.error).toBeUndefined()
    expect(result.changed[0]).toMatch(/\(120 rows\)$/)
    expect(
      await queryRows(
        url,
        `SELECT indexname FROM pg_indexes WHERE tablename = 'outline_sessions' ORDER BY 1`
      )
    ).toEqual([{ indexname: 'outline_sessions_pkey' }])
  })

  it('drills transactional statements in a rolled-back transaction and explains the rest', async () => {
    const url = await seededDatabase()
    const { ctx, step } = setup(url, SQL, 'drill')
    const result = await databasePhase.drill(step, ctx)
    expect(result.error).toBeUndefined()
    const statements = result.details!.statements as { drill: string; rows?: number }[]
    expect(statements[0]).toMatchObject({ rows: 120, drill: 'ran in a transaction, rolled back' })
    expect(statements[1]!.drill).toMatch(
      /cannot run inside a transaction.*catalog: index exists \(valid: true\)/
    )
    expect(
      await queryRows(
        url,
        `SELECT 1 FROM outline_sessions WHERE error_message = 'reset by rollback'`
      )
    ).toEqual([])
  })

  it('stops a drilled statement that would hold its locks too long, and warns instead of waiting', async () => {
    const url = await seededDatabase()
    const slow = `UPDATE outline_sessions SET error_message = 'x' WHERE id = 1 AND pg_sleep(30) IS NOT NULL`
    const { ctx, step } = setup(url, slow, 'drill')
    const started = Date.now()
    const result = await databasePhase.drill(step, ctx)
    expect(Date.now() - started).toBeLessThan(20_000)
    expect(result.status).toBe('warned')
    const statements = result.details!.statements as { drill: string }[]
    expect(statements[0]!.drill).toMatch(/^stopped after 10 s: a run would hold its locks/)
    expect(
      await queryRows(url, 'SELECT error_message FROM outline_sessions WHERE id = 1')
    ).not.toEqual([{ error_message: 'x' }])
  }, 60_000)

  it('drills the statements in one round trip: a row lock the app waits for is held for no round trip', async () => {
    const url = await seededDatabase()
    // Our session reaches the server over a slow network; the app's does not.
    const latencyMs = 300
    const proxy = await startTcpProxy(Number(new URL(url).port), latencyMs)
    // Statements that end with a comment, as runbooks have them.
    const sql = `UPDATE outline_sessions SET error_message = 'drill' WHERE id = 7 -- the app's row
;
UPDATE outline_sessions SET error_message = 'drill' WHERE status = 'error' AND is_active -- more
;
SELECT count(*) FROM outline_sessions -- last`
    const { ctx, step } = setup(throughProxy(url, proxy), sql, 'drill')
    const { result, waits: appWaits } = await whileAppWrites(
      url,
      'UPDATE outline_sessions SET updated_at = now() WHERE id = 7',
      () => databasePhase.drill(step, ctx)
    ).finally(() => proxy.close())
    expect(result.error).toBeUndefined()
    const statements = result.details!.statements as { rows?: number; ms?: number }[]
    expect(statements.map(s => s.rows)).toEqual([1, 120, 1])
    for (const s of statements) expect(s.ms).toBeGreaterThanOrEqual(0)
    // Statement by statement, the row lock would be held for at least two round trips (the
    // next statements and the ROLLBACK) and an app write would have waited for them.
    expect(appWaits.length).toBeGreaterThan(10)
    expect(Math.max(...appWaits)).toBeLessThan(latencyMs)
    expect(
      await queryRows(url, `SELECT 1 FROM outline_sessions WHERE error_message = 'drill'`)
    ).toEqual([])
  }, 60_000)

  it('a drill stopped in its second statement reports the first, names the second, and runs no third', async () => {
    const url = await seededDatabase()
    const sql = `UPDATE outline_sessions SET error_message = 'first' WHERE id = 1;
UPDATE outline_sessions SET error_message = 'x' WHERE id = 2 AND pg_sleep(30) IS NOT NULL;
UPDATE outline_sessions SET error_message = 'third' WHERE id = 3`
    const { ctx, step } = setup(url, sql, 'drill')
    const result = await databasePhase.drill(step, ctx)
    expect(result.status).toBe('warned')
    const statements = result.details!.statements as { sql: string; drill: string; ms?: number }[]
    expect(statements.map(s => s.drill)).toEqual([
      'ran in a transaction, rolled back',
      expect.stringMatching(/^stopped after 10 s: a run would hold its locks/)
    ])
    expect(statements[1]!.sql).toMatch(/pg_sleep/)
    expect(statements[1]!.ms).toBeGreaterThanOrEqual(9_000)
    expect(
      await queryRows(
        url,
        'SELECT error_message FROM outline_sessions WHERE id IN (1, 2, 3) ORDER BY id'
      )
    ).not.toContainEqual({ error_message: 'first' })
  }, 60_000)

  it('a drilled statement that fails is named, and nothing stays changed', async () => {
    const url = await seededDatabase()
    const sql = `UPDATE outline_sessions SET error_message = 'first' WHERE id = 1;
UPDATE outline_sessions SET is_active = NULL WHERE id = 2`
    const { ctx, step } = setup(url, sql, 'drill')
    const result = await databasePhase.drill(step, ctx)
    expect(result.status).toBe('failed')
    expect(result.error!.message).toMatch(
      /SQLSTATE 23502\) in "UPDATE outline_sessions SET is_active = NULL/
    )
    expect(
      await queryRows(url, `SELECT 1 FROM outline_sessions WHERE error_message = 'first'`)
    ).toEqual([])
  })

  /** A transaction that holds a lock on outline_sessions until `ms` have passed. */
  async function holdTable(url: string, sql: string, ms: number) {
    const holder = new pg.Client({ connectionString: url })
    await holder.connect()
    await holder.query('BEGIN')
    await holder.query(sql)
    const released = new Promise(r => setTimeout(r, ms)).then(() => holder.query('COMMIT'))
    return async () => {
      await released
      await holder.end()
    }
  }

  // Each statement's lock conflicts with what the holder keeps: a reader's ACCESS SHARE for
  // ALTER TABLE's ACCESS EXCLUSIVE; a writer's ROW EXCLUSIVE for DROP TRIGGER's SHARE ROW
  // EXCLUSIVE, taken on the trigger's table (the statement names table.trigger).
  const STRONG = [
    {
      what: 'ALTER TABLE behind a long reader',
      holder: 'SELECT count(*) FROM outline_sessions',
      before: '',
      sql: 'ALTER TABLE outline_sessions ADD COLUMN note text',
      changed: `SELECT 1 FROM information_schema.columns WHERE table_name = 'outline_sessions' AND column_name = 'note'`
    },
    {
      what: 'DROP TRIGGER behind a long writer',
      holder: `UPDATE outline_sessions SET updated_at = now() WHERE id = 3`,
      before: `CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
               CREATE TRIGGER audit_sessions BEFORE UPDATE ON outline_sessions FOR EACH ROW EXECUTE FUNCTION noop()`,
      sql: 'DROP TRIGGER IF EXISTS audit_sessions ON outline_sessions',
      changed: `SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'audit_sessions')`
    }
  ]

  it.each(STRONG.flatMap(c => (['run', 'drill'] as const).map(mode => ({ ...c, mode }))))(
    'a statement that needs a strong lock waits without queueing: the app never waits ($what, $mode)',
    async ({ holder, before, sql, changed, mode }) => {
      const url = await seededDatabase()
      if (before) await withPg(url, c => c.query(before))
      const release = await holdTable(url, holder, 1500)
      // Rungs of 600 ms and more: an app write queued behind one would wait at least that long.
      const { ctx, step } = setup(url, sql, mode, '3s')
      try {
        const { result, waits } = await whileAppWrites(
          url,
          `UPDATE outline_sessions SET updated_at = now() WHERE id = 7`,
          () => databasePhase[mode](step, ctx)
        )
        expect(result.error).toBeUndefined()
        // Queued behind the holder, each rung held the app's writes for all of its lock_timeout.
        expect(waits.length).toBeGreaterThan(10)
        expect(Math.max(...waits)).toBeLessThan(500)
        expect(ctx.log.lines.join('\n')).toMatch(
          /waiting \(without queueing\) for pid \d+ .* to release outline_sessions/
        )
      } finally {
        await release()
      }
      expect(await queryRows(url, changed)).toHaveLength(mode === 'run' ? 1 : 0)
    },
    30_000
  )

  // Short rungs (lock-timeout 100ms, 3 retries: about a second in all) against a 2.5 s holder.
  // Each CONCURRENTLY statement waits for the holder's transaction (a build: for its snapshot,
  // whatever it reads); ended by a rung's lock_timeout it would leave an INVALID index behind.
  const WITH_STATUS_INDEX = [
    'outline_sessions_pkey',
    'outline_sessions_workflow_idx',
    'sessions_status_idx',
    'uniq_outline_active_per_workflow'
  ]
  it.each([
    {
      what: 'DROP INDEX CONCURRENTLY (named by the index)',
      sql: 'DROP INDEX CONCURRENTLY IF EXISTS uniq_outline_active_per_workflow',
      indexes: ['outline_sessions_pkey', 'outline_sessions_workflow_idx']
    },
    {
      what: 'CREATE INDEX CONCURRENTLY',
      sql: 'CREATE INDEX CONCURRENTLY IF NOT EXISTS sessions_status_idx ON outline_sessions (status)',
      indexes: WITH_STATUS_INDEX
    },
    {
      what: 'CREATE INDEX CONCURRENTLY (the long transaction elsewhere)',
      holder: 'SELECT pg_sleep(2.5)',
      sql: 'CREATE INDEX CONCURRENTLY IF NOT EXISTS sessions_status_idx ON outline_sessions (status)',
      indexes: WITH_STATUS_INDEX
    },
    {
      what: 'REINDEX INDEX CONCURRENTLY',
      sql: 'REINDEX INDEX CONCURRENTLY outline_sessions_workflow_idx',
      indexes: [
        'outline_sessions_pkey',
        'outline_sessions_workflow_idx',
        'uniq_outline_active_per_workflow'
      ]
    }
  ])(
    '$what behind a long transaction waits it out and finishes, leaving no INVALID index',
    async ({ sql, indexes, holder: holderSql }) => {
      const url = await seededDatabase()
      // A statement in progress: it holds a snapshot (and by default a lock on the table).
      const holder = new pg.Client({ connectionString: url })
      await holder.connect()
      const holding = holder.query(
        holderSql ?? 'SELECT pg_sleep(2.5) FROM outline_sessions LIMIT 1'
      )
      await new Promise(r => setTimeout(r, 200))
      const runbook = testRunbook({
        database: { 'lock-timeout': '100ms', 'lock-retries': 3, steps: [{ name: 'custom', sql }] }
      })
      const ctx = testContext({
        runbook,
        request: testRequest({ command: 'run', runId: `sql-${Date.now()}` }),
        env: { DATABASE_URL: url },
        sleep: ms => new Promise(r => setTimeout(r, ms))
      })
      try {
        const result = await databasePhase.run(databasePhase.plan(runbook, ctx.request)[0]!, ctx)
        expect(result.error).toBeUndefined()
        expect(ctx.log.lines.join('\n')).toMatch(
          holderSql
            ? /waiting \(without queueing\) for pid \d+ .*: an index build waits for its snapshot/
            : /waiting \(without queueing\) for pid \d+ .* to release outline_sessions/
        )
      } finally {
        await holding
        await holder.end()
      }
      const after = await queryRows<{ name: string; valid: boolean }>(
        url,
        `SELECT indexrelid::regclass::text AS name, indisvalid AS valid FROM pg_index
          WHERE indrelid = 'outline_sessions'::regclass ORDER BY 1`
      )
      expect(after).toEqual(indexes.map(name => ({ name, valid: true })))
    },
    30_000
  )

  it('a CONCURRENTLY build that fails part way names the INVALID index it left and the fix', async () => {
    const url = await seededDatabase()
    // status repeats: the unique build fails after the index was created, leaving it INVALID.
    const { ctx, step } = setup(
      url,
      'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS sessions_status_key ON outline_sessions (status)'
    )
    const result = await databasePhase.run(step, ctx)
    expect(result.status).toBe('failed')
    expect(result.error!.message).toMatch(/SQLSTATE 23505/)
    expect(result.error!.message).toMatch(
      /left INVALID: sessions_status_key .*drop it with DROP INDEX CONCURRENTLY IF EXISTS/
    )
  })

  it('fails a step with an SQL error, naming the field and SQLSTATE (caught at preflight too)', async () => {
    const url = await seededDatabase()
    const { ctx, step } = setup(
      url,
      `UPDATE outline_sessions SET is_active = false WHERE stauts = 'error'`
    )
    await expect(databasePhase.preflight!([step], ctx)).rejects.toThrow(
      /database\.steps\[0\]\.sql: SQL failed \(SQLSTATE 42703\)/
    )
    const result = await databasePhase.run(step, ctx)
    expect(result.status).toBe('failed')
    expect(result.error!.message).toMatch(/column "stauts" does not exist/)
    expect(result.error!.hint).toMatch(/fix database\.steps\[0\]\.sql/)
  })

  it('refuses unsafe SQL before running anything', async () => {
    const url = await seededDatabase()
    const { ctx, step } = setup(url, `BEGIN; DROP INDEX uniq_outline_active_per_workflow; COMMIT`)
    await expect(databasePhase.preflight!([step], ctx)).rejects.toThrow(
      /refusing "BEGIN": transaction control/
    )
    const result = await databasePhase.run(step, ctx)
    expect(result.status).toBe('failed')
    expect(
      await queryRows(
        url,
        `SELECT 1 FROM pg_indexes WHERE indexname = 'uniq_outline_active_per_workflow'`
      )
    ).toHaveLength(1)
  })
})

describe('sql that destroys data', () => {
  const TRUNCATE = `TRUNCATE outline_sessions`

  it('is invalid input without acknowledge-data-loss: refused at preflight and by run, nothing changed', async () => {
    const url = await seededDatabase()
    const { ctx, step } = setup(url, TRUNCATE)
    await expect(databasePhase.preflight!([step], ctx)).rejects.toThrow(
      /database\.steps\[0\]\.sql: "TRUNCATE outline_sessions" TRUNCATE outline_sessions removes every row without a backup and database\.steps\[0\]\.acknowledge-data-loss is not true/
    )
    const result = await databasePhase.run(step, ctx)
    expect(result.status).toBe('failed')
    expect(result.error!.hint).toMatch(/add acknowledge-data-loss: true to database\.steps\[0\]/)
    expect(await queryRows(url, 'SELECT count(*)::int AS n FROM outline_sessions')).toEqual([
      { n: 3000 }
    ])
  })

  it('runs when acknowledged, and says DATA LOSS in the plan, the preflight plan and the result', async () => {
    const url = await seededDatabase()
    const runbook = testRunbook({
      database: {
        steps: [{ name: 'wipe', sql: TRUNCATE, 'acknowledge-data-loss': true }]
      }
    })
    const ctx = testContext({
      runbook,
      request: testRequest({ runId: `sql-ack-${Date.now()}` }),
      env: { DATABASE_URL: url }
    })
    const [step] = databasePhase.plan(runbook, ctx.request)
    expect(step!.changes.join('\n')).toMatch(/DATA LOSS acknowledged/)
    const notes = await databasePhase.preflight!([step!], ctx)
    expect(notes.notes![0]!.changes).toEqual([
      expect.stringMatching(
        /^TRUNCATE outline_sessions — .* DATA LOSS \(acknowledged\): TRUNCATE outline_sessions removes every row without a backup$/
      )
    ])
    const result = await databasePhase.run(step!, ctx)
    expect(result.error).toBeUndefined()
    expect(result.changed[0]).toMatch(/data destroyed without a backup \(acknowledged\)/)
    expect(await queryRows(url, 'SELECT count(*)::int AS n FROM outline_sessions')).toEqual([
      { n: 0 }
    ])
  })

  it('refuses SET by another name before anything runs', async () => {
    const url = await seededDatabase()
    const { ctx, step } = setup(
      url,
      `SELECT set_config('lock_timeout', '0', false);
UPDATE outline_sessions SET error_message = 'x' WHERE status = 'error'`
    )
    await expect(databasePhase.preflight!([step], ctx)).rejects.toThrow(
      /refusing "SELECT set_config.*": set_config\(\): it is SET by another name/
    )
    const result = await databasePhase.run(step, ctx)
    expect(result.status).toBe('failed')
    expect(
      await queryRows(url, `SELECT 1 FROM outline_sessions WHERE error_message = 'x'`)
    ).toEqual([])
  })
})

describe('plan without a reachable database', () => {
  it('still classifies the SQL and only warns about the connection', async () => {
    const runbook = testRunbook({ database: { steps: [{ name: 'custom', sql: SQL }] } })
    const ctx = testContext({
      runbook,
      request: testRequest({ command: 'plan', runId: 'plan-offline' }),
      env: { DATABASE_URL: 'postgres://app:pw-secret@127.0.0.1:1/app' }
    })
    const [step] = databasePhase.plan(runbook, ctx.request)
    const notes = await databasePhase.preflight!([step!], ctx)
    expect(notes.notes![0]!.changes).toHaveLength(3)
    expect(ctx.log.lines.join('\n')).toMatch(
      /warn: database preflight: database unreachable at postgres:\/\/app:\*\*\*@/
    )
    expect(ctx.log.lines.join('\n')).not.toContain('pw-secret')
  })
})
