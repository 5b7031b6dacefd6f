/** Drives the git/files phases the way the engine does: plan -> preflight -> run (or drill). */
import { gitPhase } from '../../src/phases/git.js'
import { filesPhase } from '../../src/phases/files.js'
import type { GitRunner } from '../../src/git/git-command-manager.js'
import type { PreflightNote, Request, StepResult } from '../../src/model.js'
import { testContext, testRequest, testRunbook, type TestContext } from './context.js'

export interface PhaseRun {
  ctx: TestContext
  notes: PreflightNote[]
  result?: StepResult
}

export interface PhaseRunOptions {
  workdir: string
  runbook: Record<string, unknown>
  request?: Partial<Request>
  mode?: 'run' | 'drill' | 'preflight'
  token?: string
  /** The push-token input (git's token; `token` then serves the API only). */
  pushToken?: string
  runner?: GitRunner
  phase?: 'git' | 'files'
  /** The run's environment (default: the test process's). */
  env?: Readonly<Record<string, string | undefined>>
}

export function phaseContext(options: PhaseRunOptions) {
  const request = testRequest({ runId: `t${Date.now()}`, ...options.request })
  const ctx = testContext({
    workdir: options.workdir,
    env: options.env ?? process.env,
    runbook: testRunbook(options.runbook),
    request,
    secrets: { githubToken: options.token, pushToken: options.pushToken },
    mode: options.mode === 'drill' ? 'drill' : 'run',
    gitRunner: options.runner,
    plannedPhases: options.phase === 'files' ? ['files'] : ['git']
  })
  return ctx
}

/** Plans, preflights and runs the phase's single step; errors propagate (RollbackError). */
export async function runPhase(options: PhaseRunOptions): Promise<PhaseRun> {
  const ctx = phaseContext(options)
  const phase = options.phase === 'files' ? filesPhase : gitPhase
  const steps = (phase.plan as typeof gitPhase.plan)(ctx.runbook, ctx.request)
  const step = steps[0]!
  const found = await phase.preflight!(steps as never, ctx)
  const notes = found.notes ?? []
  if (options.mode === 'preflight') return { ctx, notes }
  const checked = found.checked?.get(step.id) as never
  const result =
    options.mode === 'drill'
      ? await phase.drill(step as never, ctx, checked)
      : await phase.run(step as never, ctx, checked)
  return { ctx, notes, result }
}
