/** The registry of phase modules, keyed by phase name (the runbook's section names). */
import type { PhaseModule } from '../model.js'
import type { PhaseName } from '../runbook/schema.js'
import { databasePhase } from './database.js'
import { filesPhase } from './files.js'
import { flagsPhase } from './flags.js'
import { gitPhase } from './git.js'
import { integrityPhase } from './integrity.js'
import { monitorPhase } from './monitor.js'
import { notifyPhase } from './notify/index.js'
import { schemaPhase } from './schema.js'
import { verifyPhase } from './verify.js'

// Each module narrows its own action type; the registry erases it (the engine passes steps back
// only to the module that planned them).
export const PHASE_MODULES: Record<PhaseName, PhaseModule> = {
  flags: flagsPhase as PhaseModule,
  verify: verifyPhase as PhaseModule,
  database: databasePhase as PhaseModule,
  git: gitPhase as PhaseModule,
  schema: schemaPhase as PhaseModule,
  integrity: integrityPhase as PhaseModule,
  files: filesPhase as PhaseModule,
  monitor: monitorPhase as PhaseModule,
  notify: notifyPhase as PhaseModule
}
