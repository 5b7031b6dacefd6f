import { describe, expect, it } from '@jest/globals'
import { acquireRunLock } from '../src/db/advisory-lock.js'
import { connect } from '../src/db/connection.js'
import { databasePhase } from '../src/phases/database.js'
import { testContext, testRequest, testRunbook } from './support/context.js'
import {
  createTestDatabase,
  freePort,
  queryRows,
  startThrowawayPostgres,
  testDatabaseUrl
} from './support/postgres.js'

const runbook = testRunbook({
  database: { steps: [{ name: 'drop', 'drop-index': 'nothing_here' }] }
})

function ctxFor(url: string, runId = `conn-${Date.now()}`) {
  return testContext({
    runbook,
    request: testRequest({ runId }),
    env: { DATABASE_URL: url }
  })
}

describe('connection', () => {
  it('says clearly when the database is unreachable, with the password masked', async () => {
    const port = await freePort()
    const url = `postgres://app:s3cret-pass@127.0.0.1:${port}/app`
    const ctx = ctxFor(url)
    const [step] = databasePhase.plan(runbook, ctx.request)
    const result = await databasePhase.run(step!, ctx)
    expect(result.status).toBe('failed')
    expect(result.error!.message).toMatch(
      /database unreachable at postgres:\/\/app:\*\*\*@127\.0\.0\.1/
    )
    expect(result.error!.hint).toMatch(/\$DATABASE_URL/)
    expect(JSON.stringify(result)).not.toContain('s3cret-pass')
    await expect(databasePhase.preflight!([step!], ctx)).rejects.toThrow(/unreachable/)
  })

  it('prefers TLS like libpq: falls back to plain only when allowed and the server has no TLS', async () => {
    // The throwaway server has no TLS. Default (prefer): connects, in plain text.
    const url = await createTestDatabase(testDatabaseUrl())
    const client = await connect(ctxFor(url).database.settings(), 't')
    await client.end()
    // require: never silently plain.
    const required = new URL(url)
    required.searchParams.set('sslmode', 'require')
    await expect(connect(ctxFor(required.toString()).database.settings(), 't')).rejects.toThrow(
      /does not support SSL/
    )
  })

  it('uses TLS by default when the server offers it', async () => {
    const server = await startThrowawayPostgres({ tls: true })
    try {
      const client = await connect(ctxFor(server.url).database.settings(), 't')
      const { rows } = await client.query(
        'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'
      )
      await client.end()
      expect(rows).toEqual([{ ssl: true }])
      const plain = new URL(server.url)
      plain.searchParams.set('sslmode', 'disable')
      const plainClient = await connect(ctxFor(plain.toString()).database.settings(), 't')
      const again = await plainClient.query(
        'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'
      )
      await plainClient.end()
      expect(again.rows).toEqual([{ ssl: false }])
    } finally {
      await server.stop()
    }
  }, 60_000)

  it('names an unknown database and a missing URL', async () => {
    const base = new URL(testDatabaseUrl())
    base.pathname = '/no_such_db_here'
    await expect(connect(ctxFor(base.toString()).database.settings(), 't')).rejects.toThrow(
      /database does not exist/
    )
    const ctx = testContext({ runbook, env: {} })
    expect(() => ctx.database.settings()).toThrow(
      /neither the database-url input nor \$DATABASE_URL/
    )
  })

  it('prefers the database-url secret and sets application_name', async () => {
    const url = await createTestDatabase(testDatabaseUrl())
    const ctx = testContext({
      runbook,
      request: testRequest({ runId: 'app-name-1' }),
      secrets: { databaseUrl: url },
      env: { DATABASE_URL: 'postgres://wrong@127.0.0.1:1/x' }
    })
    const client = await connect(ctx.database.settings(), 'probe')
    const res = await client.query<{ name: string; st: string }>(
      `SELECT current_setting('application_name') AS name, current_setting('statement_timeout') AS st`
    )
    await client.end()
    expect(res.rows[0]).toEqual({ name: 'emergency-rollback probe app-name-1', st: '5min' })
  })
})

describe('one runner at a time', () => {
  it('refuses a concurrent run, saying who holds the advisory lock', async () => {
    const url = await createTestDatabase(testDatabaseUrl())
    const first = ctxFor(url, 'first-run')
    const lock = await acquireRunLock(first.database.settings(), 'database')
    try {
      const second = ctxFor(url, 'second-run')
      const [step] = databasePhase.plan(runbook, second.request)
      await expect(databasePhase.preflight!([step!], second)).rejects.toThrow(
        /another rollback is running on this database: the advisory lock is held by "emergency-rollback database lock first-run" \(pid \d+/
      )
      const result = await databasePhase.run(step!, second)
      expect(result.status).toBe('failed')
      expect(result.error!.message).toMatch(/held by "emergency-rollback database lock first-run"/)
      expect(result.error!.hint).toMatch(/pg_terminate_backend\(\d+\)/)
    } finally {
      await lock.release()
    }
    const again = ctxFor(url, 'third-run')
    const [step] = databasePhase.plan(runbook, again.request)
    const result = await databasePhase.run(step!, again)
    expect(result.status).toBe('succeeded')
    const held = await queryRows(
      url,
      `SELECT 1 FROM pg_locks WHERE locktype = 'advisory'
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`
    )
    expect(held).toEqual([])
  })
})
