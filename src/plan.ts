/**
 * Pure planning: runbook + request -> ordered steps. No I/O; dry-run (`plan`) and drill are
 * built from this, so what is shown is exactly what would run.
 */
import type { PhaseModule, Request, Step } from './model.js'
import { PHASE_MODULES } from './phases/index.js'
import { DEFAULT_SEVERITY_MATRIX, PHASES, type PhaseName } from './runbook/constants.js'
import type { Runbook, SeverityPolicy } from './runbook/schema.js'

export interface ExcludedPhase {
  phase: PhaseName
  reason: string
}

export interface Plan {
  runbookName: string
  request: Request
  policy: SeverityPolicy
  steps: Step[]
  /** Phases left out, and why (severity, phase filter, not configured, read-only severity). */
  excluded: ExcludedPhase[]
}

export function severityPolicy(runbook: Runbook, request: Request): SeverityPolicy {
  const override = runbook.severity[request.severity]
  if (override) return override
  const fallback = DEFAULT_SEVERITY_MATRIX[request.severity]
  return { environment: undefined, ...fallback, phases: [...fallback.phases] }
}

export function buildPlan(
  runbook: Runbook,
  request: Request,
  modules: Record<PhaseName, PhaseModule> = PHASE_MODULES
): Plan {
  const policy = severityPolicy(runbook, request)
  const steps: Step[] = []
  const excluded: ExcludedPhase[] = []
  for (const phase of PHASES) {
    if (!policy.phases.includes(phase)) {
      excluded.push({ phase, reason: `not part of severity ${request.severity}` })
      continue
    }
    if (request.phases && !request.phases.includes(phase)) {
      excluded.push({ phase, reason: 'not in the requested phases' })
      continue
    }
    const phaseSteps = modules[phase].plan(runbook, request)
    if (phaseSteps.length === 0) {
      excluded.push({ phase, reason: 'not configured in the runbook' })
      continue
    }
    const allowed = policy.mutate ? phaseSteps : phaseSteps.filter(step => !step.mutates)
    if (allowed.length < phaseSteps.length) {
      excluded.push({
        phase,
        reason: `severity ${request.severity} is investigate-only: ${phaseSteps.length - allowed.length} mutating step(s) left out`
      })
    }
    steps.push(...allowed)
  }
  const stageOrder = { before: 0, main: 1, finally: 2 } as const
  // Array.prototype.sort is stable: phase order is kept inside each stage.
  steps.sort((a, b) => stageOrder[a.stage] - stageOrder[b.stage])
  return { runbookName: runbook.name, request, policy, steps, excluded }
}
