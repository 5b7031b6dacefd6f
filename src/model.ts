/**
 * The engine's vocabulary: what a run is asked to do (Request), the steps a plan is made of,
 * what each step did (StepResult) and what a phase module must provide.
 * Nothing here knows about GitHub Actions or process.env.
 */
import type { PhaseName, Runbook, Severity } from './runbook/schema.js'

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

export interface StepResult {
  status: StepStatus
  /** What actually changed (empty when nothing needed to: a converged rerun). */
  changed: string[]
  /** Values other steps or the outputs may use (head-sha, deployment-url, ...). */
  outputs?: Record<string, string>
  /** Where discarded data was kept and how to get it back. */
  recovery?: string[]
  details?: Record<string, unknown>
  error?: StepError
}

export type { Logger } from './util/logger.js'
import type { Logger } from './util/logger.js'

/** Everything a step may use at run time, built by an entry point. */
export interface RunContext {
  mode: 'run' | 'drill'
  request: Request
  runbook: Runbook
  /** Directory of the git checkout the git/files phases work in. */
  workdir: string
  /** Environment snapshot passed in by the entry point (runbook names variables in it). */
  env: Readonly<Record<string, string | undefined>>
  secrets: SecretValues
  log: Logger
  /** Outputs of earlier steps, merged (e.g. head-sha). */
  outputs: Record<string, string>
  /** Optional integrations the entry point wired up. */
  github?: GitHubTarget
  fetch: typeof fetch
  /** The phases this run's plan contains; set by the engine (a phase may depend on another). */
  plannedPhases?: readonly PhaseName[]
  /** The run's report so far as markdown; set by the engine (notify posts it). */
  summary?: () => string
  /** Sleeps; replaced by tests to keep them fast. */
  sleep(ms: number): Promise<void>
}

export interface SecretValues {
  githubToken?: string
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

/** A phase: plan is pure; preflight is read-only; run and drill do the work. */
export interface PhaseModule<A = unknown> {
  phase: PhaseName
  /** Pure: the steps this phase would take for this runbook and request. */
  plan(runbook: Runbook, request: Request): Step<A>[]
  /**
   * Starts slow in-process preparation in the background (e.g. compiling the PostgreSQL parser)
   * as soon as the plan is known, so that it overlaps the other phases' preflight. Changes
   * nothing outside the process; its errors surface where the preparation is used.
   */
  warmUp?(steps: Step<A>[]): void
  /**
   * Read-only checks before the first mutation of the whole run (connectivity, SHAs, tokens).
   * May return notes that make the plan concrete (e.g. the commits a revert would undo).
   */
  preflight?(steps: Step<A>[], ctx: RunContext): Promise<PreflightNote[] | void>
  /**
   * Preflights run concurrently; phases naming the same resource here take turns. The checkout:
   * git sessions write its config and fetch into the same private refs. The database: one
   * connection at a time, as during an incident it may be close to its connection limit.
   */
  preflightShares?: 'checkout' | 'database'
  /** Do the step for real. */
  run(step: Step<A>, ctx: RunContext): Promise<StepResult>
  /** Prove the step would work without changing production (scratch branch, rolled-back tx). */
  drill(step: Step<A>, ctx: RunContext): Promise<StepResult>
}

export interface PreflightNote {
  stepId: string
  /** Replaces the step's planned `changes` with what preflight found to be concrete. */
  changes?: string[]
  details?: Record<string, unknown>
}

export { RollbackError } from './util/errors.js'
