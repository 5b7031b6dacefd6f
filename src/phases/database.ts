/**
 * database phase: the seed's "Database Cleanup", done without causing the next outage.
 * Steps come from runbook.database.steps, each one of (one handler per kind, in ./database/):
 *  - drop-index: DROP INDEX CONCURRENTLY IF EXISTS, alone, under the lock ladder;
 *  - batch-update: a big UPDATE in primary-key batches, old values kept in a backup table;
 *  - sql: statements split and classified by the PostgreSQL parser; unsafe ones are refused.
 * Every mutating step holds the run's advisory lock (one runner per database) while it works.
 */
import type { Dependencies } from '../dependencies.js'
import { type PhaseModule, type PreflightNote, type Step, type StepResult } from '../model.js'
import type { DatabaseStep } from '../runbook/schema.js'
import { checkRunLockFree, withRunLock } from '../db/advisory-lock.js'
import { withClient, type DbSettings } from '../db/connection.js'
import { failedResult, ladderOptions, preflightSession, slug } from '../db/phase-support.js'
import { handlerFor } from './database/index.js'
import { asFieldProblem, type FieldProblem } from '../util/errors.js'

export { classifyOrThrow } from './database/index.js'

export interface DatabaseAction {
  index: number
  field: string
  step: DatabaseStep
}

type DatabaseDeps = Pick<Dependencies, 'database' | 'log' | 'clock' | 'run'>

export const databasePhase: PhaseModule<DatabaseAction, keyof DatabaseDeps> = {
  phase: 'database',
  needs: ['database', 'log', 'clock', 'run'],
  preflightShares: 'database',
  plan(runbook, request) {
    const steps = runbook.database?.steps ?? []
    return steps.map((step, index) => ({
      id: `database:${index + 1}-${slug(step.name)}`,
      phase: 'database' as const,
      title: step.name,
      changes: handlerFor(step).plan(runbook, step, request.runId),
      mutates: true,
      stage: 'main' as const,
      action: { index, field: `database.steps[${index}]`, step }
    }))
  },

  async validate(runbook) {
    const problems: FieldProblem[] = []
    for (const [index, step] of (runbook.database?.steps ?? []).entries()) {
      const field = `database.steps[${index}]`
      await handlerFor(step)
        .validate(step, field)
        .catch((err: unknown) => problems.push(asFieldProblem(err, field)))
    }
    return problems
  },

  async preflight(steps, deps) {
    // Parse and classify everything first: refuse unsafe SQL before connecting.
    const notes = new Map<string, PreflightNote>()
    for (const s of steps) {
      const { step, field } = s.action
      const check = await handlerFor(step).validate(step, field)
      if (check) notes.set(s.id, { stepId: s.id, ...check })
    }
    const session = await preflightSession(deps.database.settings, {
      planning: deps.run.request.command === 'plan',
      log: deps.log,
      phase: 'database'
    })
    if (!session) return { notes: [...notes.values()] }
    const { client, settings } = session
    try {
      await checkRunLockFree(client)
      for (const s of steps) {
        const { step, field } = s.action
        const input = { client, step, field, settings, runId: deps.run.request.runId }
        const check = await handlerFor(step).inspect(input)
        if (check) notes.set(s.id, merge(notes.get(s.id) ?? { stepId: s.id }, check))
      }
    } finally {
      await client.end().catch(() => {})
    }
    return { notes: [...notes.values()] }
  },

  async run(step, deps) {
    return execute(step, deps, false)
  },

  async drill(step, deps) {
    return execute(step, deps, true)
  }
}

/** The inspection's changes replace the parse's; details add up. */
function merge(note: PreflightNote, check: Omit<PreflightNote, 'stepId'>): PreflightNote {
  return {
    stepId: note.stepId,
    changes: check.changes ?? note.changes,
    details: note.details || check.details ? { ...note.details, ...check.details } : undefined
  }
}

async function execute(
  step: Step<DatabaseAction>,
  deps: DatabaseDeps,
  drill: boolean
): Promise<StepResult> {
  const { field } = step.action
  let settings: DbSettings | undefined
  try {
    settings = deps.database.settings()
    const s = settings
    const handler = handlerFor(step.action.step)
    return await withRunLock(s, 'database', () =>
      withClient(s, 'database', client => {
        const input = {
          client,
          step: step.action.step,
          field,
          runId: deps.run.request.runId,
          settings: s,
          ladder: ladderOptions(deps.clock.sleep, deps.log, s)
        }
        return drill ? handler.drill(input) : handler.run(input)
      })
    )
  } catch (err) {
    return failedResult(err, field, settings)
  }
}
