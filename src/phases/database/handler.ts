/** What each kind of database step (drop-index, batch-update, sql) provides to the phase. */
import type pg from 'pg'
import type { StepResult } from '../../model.js'
import type { DatabaseStep, Runbook } from '../../runbook/schema.js'
import type { DbSettings } from '../../db/connection.js'
import type { LadderOptions } from '../../db/lock-ladder.js'

/** One step at run or drill time: its session, where it is in the runbook, the run's settings. */
export interface StepInput {
  client: pg.Client
  step: DatabaseStep
  /** e.g. database.steps[1], for messages. */
  field: string
  runId: string
  settings: DbSettings
  ladder: LadderOptions
}

/** What preflight learned about a step: concrete changes and details for the report. */
export interface StepCheck {
  changes?: string[]
  details?: Record<string, unknown>
}

export interface StepHandler {
  /** What the step would change, without looking at anything (the pure plan). */
  plan(runbook: Runbook, step: DatabaseStep, runId: string): string[]
  /** Checks that need no database (parsing): refuse bad input before connecting. */
  validate(step: DatabaseStep, field: string): Promise<StepCheck | undefined>
  /** Read-only checks against the database. */
  inspect(input: Omit<StepInput, 'ladder'>): Promise<StepCheck | undefined>
  run(input: StepInput): Promise<StepResult>
  drill(input: StepInput): Promise<StepResult>
}

export function ladderLine(runbook: Runbook): string {
  const db = runbook.database!
  return `lock_timeout ≤ ${db['lock-timeout']}, ${db['lock-retries']} retries`
}
