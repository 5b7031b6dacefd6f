/** sql steps: classified and run statement by statement; SQL errors reported with the field. */
import { describe, expect, it } from '@jest/globals'
import { databasePhase } from '../src/phases/database.js'
import { testContext, testRequest, testRunbook } from './support/context.js'
import { queryRows, seededDatabase } from './support/postgres.js'

function setup(url: string, sql: string, mode: 'run' | 'drill' = 'run') {
  const runbook = testRunbook({ database: { steps: [{ name: 'custom', sql }] } })
  const ctx = testContext({
    mode,
    runbook,
    request: testRequest({ command: mode, runId: `sql-${Date.now()}` }),
    env: { DATABASE_URL: url }
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
