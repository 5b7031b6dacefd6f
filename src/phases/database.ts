/**
 * database phase: the seed's "Database Cleanup", done without causing the next outage.
 * Steps come from runbook.database.steps, each one of (one handler per kind, in ./database/):
 *  - drop-index: DROP INDEX CONCURRENTLY IF EXISTS, alone, under the lock ladder;
 *  - batch-update: a big UPDATE in primary-key batches, old values kept in a backup table;
 *  - sql: statements split and classified by the PostgreSQL parser; unsafe ones are refused.
 * Every mutating step holds the run's advisory lock (one runner per database) while it works.
 */
import {
  type PhaseModule,
  type PreflightNote,
  type RunContext,
  type Step,
  type StepResult
} from '../model.js'
import type { DatabaseStep } from '../runbook/schema.js'
import { checkRunLockFree, withRunLock } from '../db/advisory-lock.js'
import { dbSettings, withClient, type DbSettings } from '../db/connection.js'
import { failedResult, ladderOptions, preflightSession, slug } from '../db/phase-support.js'
import { preloadSqlParser } from '../db/pg-parser.js'
import { handlerFor } from './database/index.js'

export { classifyOrThrow } from './database/index.js'

export interface DatabaseAction {
  index: number
  field: string
  step: DatabaseStep
}

export const databasePhase: PhaseModule<DatabaseAction> = {
  phase: 'database',
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

  warmUp(steps) {
    // sql and batch-update steps are parsed at preflight.
    if (steps.some(s => s.action.step['drop-index'] === undefined)) preloadSqlParser()
  },

  async preflight(steps, ctx) {
    // Parse and classify everything first: refuse unsafe SQL before connecting.
    const notes = new Map<string, PreflightNote>()
    for (const s of steps) {
      const { step, field } = s.action
      const check = await handlerFor(step).validate(step, field)
      if (check) notes.set(s.id, { stepId: s.id, ...check })
    }
    const session = await preflightSession(ctx, 'database')
    if (!session) return [...notes.values()]
    const { client, settings } = session
    try {
      await checkRunLockFree(client)
      for (const s of steps) {
        const { step, field } = s.action
        const input = { client, step, field, settings, runId: ctx.request.runId }
        const check = await handlerFor(step).inspect(input)
        if (check) notes.set(s.id, merge(notes.get(s.id) ?? { stepId: s.id }, check))
      }
    } finally {
      await client.end().catch(() => {})
    }
    return [...notes.values()]
  },

  async run(step, ctx) {
    return execute(step, ctx, false)
  },

  async drill(step, ctx) {
    return execute(step, ctx, true)
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
  ctx: RunContext,
  drill: boolean
): Promise<StepResult> {
  const { field } = step.action
  let settings: DbSettings | undefined
  try {
    settings = dbSettings(ctx)
    const s = settings
    const handler = handlerFor(step.action.step)
    return await withRunLock(s, 'database', () =>
      withClient(s, 'database', client => {
        const input = {
          client,
          step: step.action.step,
          field,
          runId: ctx.request.runId,
          settings: s,
          ladder: ladderOptions(ctx, s)
        }
        return drill ? handler.drill(input) : handler.run(input)
      })
    )
  } catch (err) {
    return failedResult(err, field, settings)
  }
}
