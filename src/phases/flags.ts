/** flags phase. Placeholder until its issue lands: plans one step when configured; run refuses. */
import { RollbackError, type PhaseModule } from '../model.js'

export const flagsPhase: PhaseModule = {
  phase: 'flags',
  plan(runbook) {
    if (runbook.flags === undefined) return []
    return [
      {
        id: 'flags',
        phase: 'flags',
        title: 'flags (not implemented yet)',
        changes: [],
        mutates: false,
        stage: 'main',
        action: undefined
      }
    ]
  },
  run() {
    return Promise.reject(new RollbackError('the flags phase is not implemented yet'))
  },
  drill() {
    return Promise.reject(new RollbackError('the flags phase is not implemented yet'))
  }
}
