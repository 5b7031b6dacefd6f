/**
 * integrity phase: the seed's "Data Integrity Check" SELECTs as assertions. Each check runs
 * `before` (stage before: a baseline ahead of every change) and/or `after` (stage main, after the
 * database and schema phases), in autocommit on a read-only session. A check that does not hold
 * fails the run (or only warns with on-fail: warn) and the report shows the offending rows (20 max).
 */
import type pg from 'pg'
import type { Dependencies } from '../dependencies.js'
import type { PhaseModule, PreflightNote, Step, StepResult } from '../model.js'
import type { IntegrityCheck } from '../runbook/schema.js'
import { checkStatement, MAX_REPORTED_ROWS, runAssertion } from '../db/assertions.js'
import { sqlError, withClient, type DbSettings } from '../db/connection.js'
import { failedResult, preflightSession, slug } from '../db/phase-support.js'
import { asFieldProblem, type FieldProblem } from '../util/errors.js'

export interface IntegrityAction {
  index: number
  field: string
  when: 'before' | 'after'
  check: IntegrityCheck
}

type IntegrityDeps = Pick<Dependencies, 'database' | 'log' | 'run'>

export const integrityPhase: PhaseModule<IntegrityAction, keyof IntegrityDeps> = {
  phase: 'integrity',
  needs: ['database', 'log', 'run'],
  preflightShares: 'database',
  plan(runbook) {
    const steps: Step<IntegrityAction>[] = []
    for (const [index, check] of (runbook.integrity ?? []).entries()) {
      for (const when of check.when) {
        steps.push({
          id: `integrity:${index + 1}-${slug(check.name)}:${when}`,
          phase: 'integrity',
          title: `${check.name} (${when})`,
          changes: [],
          mutates: false,
          stage: when === 'before' ? 'before' : 'main',
          action: { index, field: `integrity[${index}]`, when, check }
        })
      }
    }
    return steps
  },

  async validate(runbook) {
    const problems: FieldProblem[] = []
    for (const [index, check] of (runbook.integrity ?? []).entries()) {
      const field = `integrity[${index}]`
      await checkStatement(check, field).catch((err: unknown) =>
        problems.push(asFieldProblem(err, field))
      )
    }
    return problems
  },

  async preflight(steps, deps) {
    const notes: PreflightNote[] = []
    for (const step of steps) {
      await checkStatement(step.action.check, step.action.field)
    }
    const session = await preflightSession(deps.database.settings, {
      planning: deps.run.request.command === 'plan',
      log: deps.log,
      phase: 'integrity'
    })
    if (!session) return { notes }
    const { client } = session
    try {
      for (const step of steps) {
        const sql = await checkStatement(step.action.check, step.action.field)
        try {
          await client.query(`EXPLAIN ${sql}`)
        } catch (err) {
          // A check run after the rollback may read what the rollback creates: only warn for those.
          if (step.action.when === 'before') throw sqlError(err, `${step.action.field}.sql`, sql)
          deps.log.warn(`${step.id}: ${(err as Error).message} (checked again after the rollback)`)
        }
      }
    } finally {
      await client.end().catch(() => {})
    }
    return { notes }
  },

  run(step, deps) {
    return assert(step, deps)
  },

  // Read-only either way: a drill runs the same assertions.
  drill(step, deps) {
    return assert(step, deps)
  }
}

async function assert(step: Step<IntegrityAction>, deps: IntegrityDeps): Promise<StepResult> {
  const { check, field } = step.action
  let settings: DbSettings | undefined
  try {
    settings = deps.database.settings()
    const sql = await checkStatement(check, field)
    const outcome = await withClient(settings, 'integrity', async (client: pg.Client) => {
      await client.query('SET default_transaction_read_only = on')
      try {
        return await runAssertion(client, check, sql, MAX_REPORTED_ROWS)
      } catch (err) {
        throw sqlError(err, `${field}.sql`, sql)
      }
    })
    const details = {
      check: check.name,
      when: step.action.when,
      expected: check.expect,
      total: outcome.total,
      rows: outcome.rows,
      rowsTruncated: outcome.truncated,
      durationMs: outcome.durationMs
    }
    if (outcome.ok)
      return { status: 'succeeded', changed: [], details: { ...details, result: outcome.summary } }
    const message = `${check.name}: ${outcome.summary}`
    if (deps.run.mode === 'drill' && step.action.when === 'after') {
      // A drill rolls its changes back, so an after-check sees the data as it was.
      const note = `${message} (drill: the rollback's changes were rolled back, so this reflects the current data)`
      deps.log.warn(note)
      return { status: 'warned', changed: [], details: { ...details, result: note } }
    }
    if (check['on-fail'] === 'warn') {
      deps.log.warn(message)
      return { status: 'warned', changed: [], details: { ...details, result: message } }
    }
    return {
      status: 'failed',
      changed: [],
      details,
      error: {
        message,
        hint: `the offending rows are in the step details (first ${MAX_REPORTED_ROWS}); fix the data or set ${field}.on-fail: warn`
      }
    }
  } catch (err) {
    return failedResult(err, field, settings)
  }
}
