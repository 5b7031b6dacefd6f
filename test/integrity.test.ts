/** Integrity checks are assertions: failing and passing checks, warn mode, capped rows. */
import { describe, expect, it } from '@jest/globals'
import { integrityPhase } from '../src/phases/integrity.js'
import { testContext, testRequest, testRunbook } from './support/context.js'
import { seededDatabase } from './support/postgres.js'

const CORRUPTED = `SELECT id, status, is_active, error_message FROM outline_sessions
                   WHERE status IN ('error', 'failed') AND is_active = true`

function setup(url: string, checks: Record<string, unknown>[]) {
  const runbook = testRunbook({ integrity: checks })
  const ctx = testContext({
    runbook,
    request: testRequest({ runId: 'integrity-1' }),
    env: { DATABASE_URL: url }
  })
  return { ctx, steps: integrityPhase.plan(runbook, ctx.request) }
}

describe('integrity assertions', () => {
  it('fails with the offending rows (capped at 20) and passes when the check holds', async () => {
    const url = await seededDatabase()
    const { ctx, steps } = setup(url, [
      { name: 'no corrupted sessions', sql: CORRUPTED, expect: { rows: 0 } },
      {
        name: 'healthy sessions exist',
        sql: `SELECT count(*) FROM outline_sessions WHERE is_active AND status = 'streaming' AND updated_at > now() - interval '30 minutes'`,
        expect: { value: 120 },
        when: ['after']
      },
      {
        name: 'few failures',
        sql: `SELECT id FROM outline_sessions WHERE status = 'failed'`,
        expect: { 'max-rows': 10 },
        'on-fail': 'warn',
        when: ['after']
      }
    ])
    expect(steps.map(s => [s.id, s.stage, s.mutates])).toEqual([
      ['integrity:1-no-corrupted-sessions:before', 'before', false],
      ['integrity:1-no-corrupted-sessions:after', 'main', false],
      ['integrity:2-healthy-sessions-exist:after', 'main', false],
      ['integrity:3-few-failures:after', 'main', false]
    ])
    await integrityPhase.preflight!(steps, ctx)
    const failing = await integrityPhase.run(steps[0]!, ctx)
    expect(failing.status).toBe('failed')
    expect(failing.error!.message).toBe('no corrupted sessions: expected 0 rows, got 120 rows')
    expect(failing.details).toMatchObject({ total: 120, rowsTruncated: true })
    const rows = failing.details!.rows as Record<string, unknown>[]
    expect(rows).toHaveLength(20)
    expect(rows[0]).toMatchObject({ status: 'error', is_active: true })
    expect(Object.keys(rows[0]!)).toEqual(['id', 'status', 'is_active', 'error_message'])

    const passing = await integrityPhase.run(steps[2]!, ctx)
    expect(passing.status).toBe('succeeded')
    expect(passing.details!.result).toBe('holds: value 120 (got 1 row)')

    const warned = await integrityPhase.run(steps[3]!, ctx)
    expect(warned.status).toBe('warned')
    expect(warned.details!.result).toMatch(/expected at most 10 rows, got 600 rows/)
  })

  it('refuses a check that is not a single read-only SELECT, and names the field', async () => {
    const url = await seededDatabase()
    const { ctx, steps } = setup(url, [
      {
        name: 'sneaky',
        sql: `UPDATE outline_sessions SET is_active = false WHERE id = 1`,
        expect: { rows: 0 }
      }
    ])
    await expect(integrityPhase.preflight!(steps, ctx)).rejects.toThrow(
      /integrity\[0\]\.sql must be exactly one read-only SELECT \(got UPDATE\)/
    )
    const result = await integrityPhase.run(steps[0]!, ctx)
    expect(result.status).toBe('failed')
  })

  it('refuses a SELECT that changes session state (set_config, advisory locks)', async () => {
    const url = await seededDatabase()
    const { ctx, steps } = setup(url, [
      {
        name: 'sneaky',
        sql: `SELECT set_config('default_transaction_read_only', 'off', false)`,
        expect: { rows: 1 }
      }
    ])
    await expect(integrityPhase.preflight!(steps, ctx)).rejects.toThrow(
      /integrity\[0\]\.sql: set_config\(\): it is SET by another name/
    )
    expect((await integrityPhase.run(steps[0]!, ctx)).status).toBe('failed')
  })

  it('reports an SQL error in a check with the field and SQLSTATE', async () => {
    const url = await seededDatabase()
    const { ctx, steps } = setup(url, [
      { name: 'typo', sql: `SELECT id FROM outline_sessions WHERE is_actve`, expect: { rows: 0 } }
    ])
    await expect(integrityPhase.preflight!(steps, ctx)).rejects.toThrow(
      /integrity\[0\]\.sql: SQL failed \(SQLSTATE 42703\)/
    )
    const result = await integrityPhase.run(steps[0]!, ctx)
    expect(result.error!.message).toMatch(
      /integrity\[0\]\.sql: SQL failed \(SQLSTATE 42703\).*column "is_actve" does not exist/
    )
  })
})
