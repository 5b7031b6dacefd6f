/** files phase. Placeholder until its issue lands: plans one step when configured; run refuses. */
import { RollbackError, type PhaseModule } from '../model.js'

export const filesPhase: PhaseModule = {
  phase: 'files',
  plan(runbook) {
    if (runbook.files === undefined) return []
    return [
      {
        id: 'files',
        phase: 'files',
        title: 'files (not implemented yet)',
        changes: [],
        mutates: false,
        stage: 'main',
        action: undefined
      }
    ]
  },
  run() {
    return Promise.reject(new RollbackError('the files phase is not implemented yet'))
  },
  drill() {
    return Promise.reject(new RollbackError('the files phase is not implemented yet'))
  }
}
