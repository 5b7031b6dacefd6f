/** verify phase. Placeholder until its issue lands: plans one step when configured; run refuses. */
import { RollbackError, type PhaseModule } from '../model.js'

export const verifyPhase: PhaseModule = {
  phase: 'verify',
  plan(runbook) {
    if (runbook.verify === undefined) return []
    return [
      {
        id: 'verify',
        phase: 'verify',
        title: 'verify (not implemented yet)',
        changes: [],
        mutates: false,
        stage: 'main',
        action: undefined
      }
    ]
  },
  run() {
    return Promise.reject(new RollbackError('the verify phase is not implemented yet'))
  },
  drill() {
    return Promise.reject(new RollbackError('the verify phase is not implemented yet'))
  }
}
