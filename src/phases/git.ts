/** git phase. Placeholder until its issue lands: plans one step when configured; run refuses. */
import { RollbackError, type PhaseModule } from '../model.js'

export const gitPhase: PhaseModule = {
  phase: 'git',
  plan(runbook) {
    if (runbook.git === undefined) return []
    return [
      {
        id: 'git',
        phase: 'git',
        title: 'git (not implemented yet)',
        changes: [],
        mutates: false,
        stage: 'main',
        action: undefined
      }
    ]
  },
  run() {
    return Promise.reject(new RollbackError('the git phase is not implemented yet'))
  },
  drill() {
    return Promise.reject(new RollbackError('the git phase is not implemented yet'))
  }
}
