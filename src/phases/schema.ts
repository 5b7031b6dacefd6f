/** schema phase. Placeholder until its issue lands: plans one step when configured; run refuses. */
import { RollbackError, type PhaseModule } from '../model.js'

export const schemaPhase: PhaseModule = {
  phase: 'schema',
  plan(runbook) {
    if (runbook.schema === undefined) return []
    return [
      {
        id: 'schema',
        phase: 'schema',
        title: 'schema (not implemented yet)',
        changes: [],
        mutates: false,
        stage: 'main',
        action: undefined
      }
    ]
  },
  run() {
    return Promise.reject(new RollbackError('the schema phase is not implemented yet'))
  },
  drill() {
    return Promise.reject(new RollbackError('the schema phase is not implemented yet'))
  }
}
