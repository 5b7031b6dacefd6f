/** integrity phase. Placeholder until its issue lands: plans one step when configured; run refuses. */
import { RollbackError, type PhaseModule } from '../model.js'

export const integrityPhase: PhaseModule = {
  phase: 'integrity',
  plan(runbook) {
    if (runbook.integrity === undefined) return []
    return [
      {
        id: 'integrity',
        phase: 'integrity',
        title: 'integrity (not implemented yet)',
        changes: [],
        mutates: false,
        stage: 'main',
        action: undefined
      }
    ]
  },
  run() {
    return Promise.reject(new RollbackError('the integrity phase is not implemented yet'))
  },
  drill() {
    return Promise.reject(new RollbackError('the integrity phase is not implemented yet'))
  }
}
