/** monitor phase. Placeholder until its issue lands: plans one step when configured; run refuses. */
import { RollbackError, type PhaseModule } from '../model.js'

export const monitorPhase: PhaseModule = {
  phase: 'monitor',
  plan(runbook) {
    if (runbook.monitor === undefined) return []
    return [
      {
        id: 'monitor',
        phase: 'monitor',
        title: 'monitor (not implemented yet)',
        changes: [],
        mutates: false,
        stage: 'main',
        action: undefined
      }
    ]
  },
  run() {
    return Promise.reject(new RollbackError('the monitor phase is not implemented yet'))
  },
  drill() {
    return Promise.reject(new RollbackError('the monitor phase is not implemented yet'))
  }
}
