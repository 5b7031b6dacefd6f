/** database phase. Placeholder until its issue lands: plans one step when configured; run refuses. */
import { RollbackError, type PhaseModule } from '../model.js'

export const databasePhase: PhaseModule = {
  phase: 'database',
  plan(runbook) {
    if (runbook.database === undefined) return []
    return [
      {
        id: 'database',
        phase: 'database',
        title: 'database (not implemented yet)',
        changes: [],
        mutates: false,
        stage: 'main',
        action: undefined
      }
    ]
  },
  run() {
    return Promise.reject(new RollbackError('the database phase is not implemented yet'))
  },
  drill() {
    return Promise.reject(new RollbackError('the database phase is not implemented yet'))
  }
}
