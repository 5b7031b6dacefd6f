/**
 * The engine's vocabulary: what a run is asked to do (Request), the steps a plan is made of,
 * what each step did (StepResult) and what a phase module must provide.
 * Nothing here knows about GitHub Actions or process.env.
 */
import type { Dependencies } from './dependencies.js'
import type { PhaseName, Runbook, Severity } from './runbook/schema.js'
import type { FieldProblem } from './util/errors.js'

export type Command = 'plan' | 'run' | 'drill'
export const COMMANDS: readonly Command[] = ['plan', 'run', 'drill']

/** Where the run was triggered from; shapes notifications and the report. */
export interface Trigger {
  kind: 'dispatch' | 'chatops' | 'schedule' | 'cli' | 'other'
  actor?: string
  /** Issue or PR number a status comment goes to. */
  issueNumber?: number
}

export interface Request {
  command: Command
  severity: Severity
  /** Subset of phases (intersected with the severity's phases); undefined = all of them. */
  phases?: PhaseName[]
  gitStrategy?: 'revert' | 'reset'
  revert?: string
  resetTo?: string
  confirm?: string
  branch?: string
  /**
   * The branch head (full SHA) the run must start from: what its plan was made against. A run
   * refuses when the branch has moved since, and pushes with it as the lease.
   */
  expectHead?: string
  trigger: Trigger
  /** Unique id of this run: names backup refs/tables so reruns and later runs never collide. */
  runId: string
}

/** A planned unit of work. `action` is phase-specific data the phase's run() interprets. */
export interface Step<A = unknown> {
  id: string
  phase: PhaseName
  title: string
  /** Human-readable list of what running this step changes ("" when read-only). */
  changes: string[]
  mutates: boolean
  /**
   * When the step runs: `before` ahead of every main step (integrity baselines, "initiated"
   * notice), `main` in phase order, `finally` even after a failure (the closing notice).
   */
  stage: 'before' | 'main' | 'finally'
  action: A
}

export type StepStatus = 'planned' | 'succeeded' | 'failed' | 'skipped' | 'warned'

export interface StepError {
  message: string
  /** What the operator should do about it. */
  hint?: string
}

/**
 * Values one step hands to later steps and to the action's outputs. Typed, so a phase that reads
 * `head-sha` reads what the git phase wrote, not a string key that may have drifted.
 */
export interface StepOutputs {
  /** Branch head after the git/files phase. */
  'head-sha': string
  /** Branch head the checks saw before anything changed (what a plan was made against). */
  'branch-head': string
  /** Production URL after the flags phase. */
  'deployment-url': string
  'deployment-id': string
  /** The status comment the run keeps updating. */
  'status-comment-id': string
  'status-comment-url': string
  'incident-issue': string
  'incident-issue-number': string
}

export interface StepResult {
  status: StepStatus
  /** What actually changed (empty when nothing needed to: a converged rerun). */
  changed: string[]
  /** Values other steps or the outputs may use. */
  outputs?: Partial<StepOutputs>
  /** Where discarded data was kept and how to get it back. */
  recovery?: string[]
  details?: Record<string, unknown>
  error?: StepError
}

export interface SecretValues {
  /** The GitHub API's token (comments, issues, reactions); git's too without pushToken. */
  githubToken?: string
  /** git's token (fetch and push) when it is not githubToken. */
  pushToken?: string
  hostingToken?: string
  databaseUrl?: string
}

export interface GitHubTarget {
  apiUrl: string
  serverUrl: string
  owner: string
  repo: string
  /** The Actions run id/URL, when running inside Actions. */
  runUrl?: string
}

/** What a phase declares it needs; the engine hands it exactly these (see src/dependencies.ts). */
export type DependencyName = keyof Dependencies

/** A phase: plan is pure; preflight is read-only; run and drill do the work. */
export interface PhaseModule<A = unknown, N extends DependencyName = DependencyName, C = unknown> {
  phase: PhaseName
  /** The dependencies run/drill/preflight receive; nothing else reaches the phase. */
  needs: readonly N[]
  /** Pure: the steps this phase would take for this runbook and request. */
  plan(runbook: Runbook, request: Request): Step<A>[]
  /**
   * Checks of the runbook's own text that need nothing outside it (its SQL, parsed): a problem
   * here makes the runbook invalid, refused before anything is planned or contacted.
   */
  validate?(runbook: Runbook): Promise<FieldProblem[]>
  /**
   * Read-only checks before the first mutation of the whole run (connectivity, SHAs, tokens).
   * Returns notes that make the plan concrete, and per step what it checked (`checked`), which
   * run/drill receive: what was shown and approved is what is acted on. `record`: outputs known
   * as soon as a check saw them (the branch head), kept even when a later check fails.
   */
  preflight?(
    steps: Step<A>[],
    deps: Pick<Dependencies, N>,
    record?: (outputs: Partial<StepOutputs>) => void
  ): Promise<Preflight<C>>
  /**
   * Preflights run concurrently; phases naming the same resource here take turns. The checkout:
   * git sessions write its config and fetch into the same private refs. The database: one
   * connection at a time, as during an incident it may be close to its connection limit.
   */
  preflightShares?: 'checkout' | 'database'
  /** Do the step for real. `checked`: what this step's preflight found (absent: no preflight). */
  run(step: Step<A>, deps: Pick<Dependencies, N>, checked?: C): Promise<StepResult>
  /** Prove the step would work without changing production (scratch branch, rolled-back tx). */
  drill(step: Step<A>, deps: Pick<Dependencies, N>, checked?: C): Promise<StepResult>
  /**
   * Called at intervals while a long run is still going (the communication plan's status
   * updates): tell people which step it is on. Never throws; a failed update only warns.
   */
  stillRunning?(steps: Step<A>[], deps: Pick<Dependencies, N>, status: RunningStatus): Promise<void>
}

/** Where a run still going is, for the periodic status update. */
export interface RunningStatus {
  /** The step running now (its title), or the one about to run. */
  step: string
  minutes: number
}

/** "still running: step X, N minutes so far": the same words on every channel. */
export function stillRunningText(status: RunningStatus): string {
  return `still running: ${status.step || 'between steps'}, ${status.minutes} minutes so far`
}

export interface Preflight<C = unknown> {
  notes?: PreflightNote[]
  /** Per step id: what the checks found, handed to that step's run/drill. */
  checked?: ReadonlyMap<string, C>
}

export interface PreflightNote {
  stepId: string
  /** Replaces the step's planned `changes` with what preflight found to be concrete. */
  changes?: string[]
  details?: Record<string, unknown>
}

export { RollbackError } from './util/errors.js'
export type { Logger } from './util/logger.js'
