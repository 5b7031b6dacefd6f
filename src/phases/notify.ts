/** notify phase. Placeholder until its issue lands: plans one step when configured; run refuses. */
import { RollbackError, type PhaseModule } from '../model.js'

export const notifyPhase: PhaseModule = {
  phase: 'notify',
  plan(runbook) {
    if (runbook.notify === undefined) return []
    return [
      {
        id: 'notify',
        phase: 'notify',
        title: 'notify (not implemented yet)',
        changes: [],
        mutates: false,
        stage: 'main',
        action: undefined
      }
    ]
  },
  run() {
    return Promise.reject(new RollbackError('the notify phase is not implemented yet'))
  },
  drill() {
    return Promise.reject(new RollbackError('the notify phase is not implemented yet'))
  }
}
