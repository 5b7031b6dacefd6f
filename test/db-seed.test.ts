/**
 * The whole database part of the seed procedure (cleanup, schema rollback, integrity checks) on
 * the demo seed through the real engine: plan, drill (nothing changes), run, rerun (converges).
 */
import { describe, expect, it } from '@jest/globals'
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { execute } from '../src/engine.js'
import { buildPlan } from '../src/plan.js'
import { runbookFrom } from '../src/runbook/validate.js'
import { testContext, testRequest } from './support/context.js'
import { queryRows, seededDatabase } from './support/postgres.js'

const runbook = runbookFrom(
  parse(readFileSync('examples/streaming-migration/rollback.yml', 'utf8'))
)
const phases = ['database', 'schema', 'integrity'] as const

function setup(url: string, command: 'plan' | 'run' | 'drill', runId: string) {
  const request = testRequest({ command, phases: [...phases], runId })
  const ctx = testContext({
    mode: command === 'drill' ? 'drill' : 'run',
    request,
    runbook,
    env: { DATABASE_URL: url }
  })
  return { plan: buildPlan(runbook, request), ctx }
}

const state = async (url: string) =>
  (
    await queryRows<{ active: string; stuck: string; cols: string; idx: string }>(
      url,
      `SELECT (SELECT count(*) FROM outline_sessions WHERE is_active)::text AS active,
              (SELECT count(*) FROM outline_sessions WHERE is_active AND (status = 'error'
                 OR updated_at < now() - interval '30 minutes'))::text AS stuck,
              (SELECT count(*) FROM information_schema.columns
                WHERE table_name = 'outline_sessions')::text AS cols,
              (SELECT count(*) FROM pg_indexes
                WHERE indexname = 'uniq_outline_active_per_workflow')::text AS idx`
    )
  )[0]!

describe('seed database procedure on seed.sql', () => {
  it('plans with lock levels, drills without changing anything, runs, and reruns cleanly', async () => {
    const url = await seededDatabase()
    const before = await state(url)
    expect(before).toEqual({ active: '420', stuck: '300', cols: '11', idx: '1' })

    const p = setup(url, 'plan', 'seed-plan')
    const planned = await execute(p.plan, p.ctx)
    expect(planned.status).toBe('planned')
    const planText = planned.steps.flatMap(s => s.planned).join('\n')
    expect(planText).toMatch(/DROP INDEX CONCURRENTLY IF EXISTS uniq_outline_active_per_workflow/)
    expect(planText).toMatch(/SHARE UPDATE EXCLUSIVE/)
    expect(planText).toMatch(/ACCESS EXCLUSIVE/)
    expect(planned.steps.map(s => s.stage)[0]).toBe('before')

    const d = setup(url, 'drill', 'seed-drill')
    const drilled = await execute(d.plan, d.ctx)
    expect(drilled.error).toBeUndefined()
    expect(drilled.status).toBe('succeeded')
    expect(await state(url)).toEqual(before)
    const tables = await queryRows(
      url,
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'rollback_backup'`
    )
    expect(tables).toEqual([])

    const r = setup(url, 'run', 'seed-run-1')
    const ran = await execute(r.plan, r.ctx)
    expect(ran.error).toBeUndefined()
    expect(ran.status).toBe('succeeded')
    expect(ran.steps.map(s => s.status)).not.toContain('failed')
    expect(await state(url)).toEqual({ active: '120', stuck: '0', cols: '7', idx: '0' })
    expect(ran.recovery.join('\n')).toMatch(/rollback_backup\.outline_sessions_seed_run_1/)
    expect(ran.recovery.join('\n')).toMatch(
      /ALTER TABLE "outline_sessions" ADD COLUMN IF NOT EXISTS/
    )
    const reset = ran.steps.find(s => s.id.startsWith('database:2'))!
    expect(reset.details).toMatchObject({ rowsChanged: 300, remaining: 0 })

    const again = setup(url, 'run', 'seed-run-2')
    const rerun = await execute(again.plan, again.ctx)
    expect(rerun.error).toBeUndefined()
    expect(rerun.status).toBe('succeeded')
    expect(rerun.steps.filter(s => s.phase !== 'integrity').flatMap(s => s.changed)).toEqual([])
  })
})
