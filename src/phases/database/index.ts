/** The handler of each kind of database step. */
import type { DatabaseStep } from '../../runbook/schema.js'
import { batchUpdateStep } from './batch-update.js'
import { dropIndexStep } from './drop-index.js'
import type { StepHandler } from './handler.js'
import { sqlStep } from './sql.js'

export type { StepHandler, StepInput } from './handler.js'
export { batchSpec } from './batch-update.js'
export { classifyOrThrow } from './sql.js'

/** The runbook rules guarantee exactly one kind per step. */
export function handlerFor(step: DatabaseStep): StepHandler {
  if (step['drop-index'] !== undefined) return dropIndexStep
  if (step['batch-update'] !== undefined) return batchUpdateStep
  return sqlStep
}
