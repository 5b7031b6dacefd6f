/**
 * Runs a plan: preflight every phase (read-only) before the first mutation, then the steps in
 * order, timing each and journaling after each so a crash still leaves a report. Stops at the
 * first failure; `finally` steps (closing notices) still run.
 */
import type { Plan } from './plan.js'
import { PHASE_MODULES } from './phases/index.js'
import { pick, type Dependencies, type Progress } from './dependencies.js'
import {
  RollbackError,
  type Command,
  type PhaseModule,
  type PreflightNote,
  type RunningStatus,
  type Step,
  type StepError,
  type StepOutputs,
  type StepResult,
  type StepStatus
} from './model.js'
import type { PhaseName } from './runbook/schema.js'
import { MissingSecretError } from './util/errors.js'

export type RunStatus = 'planned' | 'succeeded' | 'failed'

/** How often a run still going tells people where it is (the communication plan). */
export const STATUS_UPDATE_MS = 15 * 60_000

/** The run's lock (see run-lock.ts), held from after preflight to the end. */
export interface RunLock {
  /** What was taken, for the report. */
  description: string
  /** Releases it; returns the problems (warnings), never throws. */
  release(): Promise<string[]>
}

export interface StepRecord {
  id: string
  phase: PhaseName
  title: string
  stage: Step['stage']
  mutates: boolean
  planned: string[]
  /** What the step was given: its part of the runbook and the request (secrets are only named). */
  input: unknown
  status: StepStatus
  startedAt?: string
  durationMs?: number
  changed: string[]
  outputs?: Partial<StepOutputs>
  recovery?: string[]
  details?: Record<string, unknown>
  error?: StepError
}

export interface Journal {
  command: Command
  runbookName: string
  severity: Plan['request']['severity']
  /** GitHub Environment the severity must run behind (enforced by the workflow's `environment:`). */
  environment?: string
  status: RunStatus
  startedAt: string
  finishedAt?: string
  durationMs?: number
  steps: StepRecord[]
  excluded: Plan['excluded']
  outputs: Partial<StepOutputs>
  /** Every place discarded data was kept, gathered from the steps. */
  recovery: string[]
  warnings: string[]
  error?: StepError
  /** The lock the run held (or that none was taken). */
  lock?: string
  /** Why the run stopped early (the signal), when it was cancelled. */
  cancelled?: string
}

export interface EngineHooks {
  /** The phase implementations (tests substitute their own). */
  modules?: Record<PhaseName, PhaseModule>
  /** The run's report so far as markdown, for closing notices (the caller renders and redacts). */
  summary?(): string
  /** Outputs known before the first step (e.g. a ChatOps reply that is the status comment). */
  initialOutputs?: Partial<StepOutputs>
  /** Called after every change to the journal (the caller writes it to disk). */
  onJournal?(journal: Journal): void | Promise<void>
  /**
   * Called with each periodic status update, beside the phases that send one (notify): the
   * caller's own channel (a ChatOps reply kept current) says it too.
   */
  stillRunning?(status: RunningStatus): Promise<void>
  now?(): number
  /**
   * Takes the run's lock once every preflight has passed (run and drill; a plan takes none).
   * Throws a RollbackError naming the holder when another run has it: then nothing is changed.
   */
  lock?(): Promise<RunLock>
  /**
   * Cancellation: once aborted, the run stops at the next safe point (between steps, never inside
   * one), skips the remaining steps and still runs the `finally` steps.
   */
  signal?: AbortSignal
}

export function toStepError(err: unknown): StepError {
  if (err instanceof RollbackError) return { message: err.message, hint: err.hint }
  if (err instanceof Error) return { message: err.message }
  return { message: String(err) }
}

function newJournal(plan: Plan, now: number): Journal {
  return {
    command: plan.request.command,
    runbookName: plan.runbookName,
    severity: plan.request.severity,
    environment: plan.policy.environment,
    status: 'planned',
    startedAt: new Date(now).toISOString(),
    steps: plan.steps.map(step => ({
      id: step.id,
      phase: step.phase,
      title: step.title,
      stage: step.stage,
      mutates: step.mutates,
      planned: step.changes,
      input: step.action,
      status: 'planned',
      changed: []
    })),
    excluded: plan.excluded,
    outputs: {},
    recovery: [],
    warnings: []
  }
}

function applyNotes(journal: Journal, notes: PreflightNote[]): void {
  for (const note of notes) {
    const record = journal.steps.find(s => s.id === note.stepId)
    if (!record) continue
    if (note.changes) record.planned = note.changes
    if (note.details) record.details = { ...record.details, ...note.details }
  }
}

interface PreflightFailure {
  phase: PhaseName
  error: StepError
  /** A secret this environment lacks kept the phase from checking (see MissingSecretError). */
  unchecked: boolean
}

/** One error naming every failed phase, in plan order, with their hints. */
function preflightError(failures: PreflightFailure[]): StepError {
  return {
    message: failures.map(f => `${f.phase}: ${f.error.message}`).join('; '),
    hint: failures.flatMap(f => f.error.hint ?? []).join('; ') || undefined
  }
}

/** What each step's preflight found, by step id: handed to that step's run/drill. */
type Checked = Map<string, unknown>

/**
 * Read-only checks of every phase in the plan; all of them, so every problem shows. They run
 * concurrently (a plan waits on git, the database and HTTP at once), except phases that share a
 * resource (`preflightShares`), which take turns. Failures are reported in plan order.
 */
async function preflight(
  plan: Plan,
  deps: Dependencies,
  journal: Journal,
  modules: Record<PhaseName, PhaseModule>,
  checked: Checked
): Promise<PreflightFailure[]> {
  const phases = [...new Set(plan.steps.map(s => s.phase))].filter(p => modules[p].preflight)
  const check = async (phase: PhaseName): Promise<PreflightFailure | undefined> => {
    const started = deps.clock.now()
    const module = modules[phase]
    try {
      const found = await module.preflight!(
        plan.steps.filter(s => s.phase === phase),
        pick(deps, module.needs),
        outputs => Object.assign(journal.outputs, outputs)
      )
      if (found.notes) applyNotes(journal, found.notes)
      for (const [stepId, value] of found.checked ?? []) checked.set(stepId, value)
      return undefined
    } catch (err) {
      return { phase, error: toStepError(err), unchecked: err instanceof MissingSecretError }
    } finally {
      deps.log.debug(`preflight ${phase}: ${deps.clock.now() - started} ms`)
    }
  }
  const turns = new Map<string, Promise<unknown>>()
  const outcomes = phases.map(phase => {
    const shared = modules[phase].preflightShares
    if (!shared) return check(phase)
    const outcome = (turns.get(shared) ?? Promise.resolve()).then(() => check(phase))
    turns.set(shared, outcome)
    return outcome
  })
  return (await Promise.all(outcomes)).filter(f => f !== undefined)
}

/** The engine's own record of the run, exposed to phases read-only as `progress`. */
function progressOf(
  plan: Plan,
  journal: Journal,
  state: { failed: boolean },
  summary: () => string
): Progress {
  const plannedPhases = [...new Set(plan.steps.map(s => s.phase))]
  return {
    plannedPhases,
    get outputs() {
      return journal.outputs
    },
    get failed() {
      return state.failed
    },
    summary
  }
}

export async function execute(
  plan: Plan,
  base: Dependencies,
  hooks: EngineHooks = {}
): Promise<Journal> {
  const now = hooks.now ?? base.clock.now
  const modules = hooks.modules ?? PHASE_MODULES
  const started = now()
  const journal = newJournal(plan, started)
  Object.assign(journal.outputs, hooks.initialOutputs)
  const state = { failed: false }
  const deps: Dependencies = {
    ...base,
    progress: progressOf(plan, journal, state, hooks.summary ?? base.progress.summary)
  }
  const log = deps.log
  // A report that cannot be written must not stop a rollback halfway: warn and carry on.
  let saveWarned = false
  const save = async () => {
    try {
      await hooks.onJournal?.(journal)
    } catch (err) {
      if (!saveWarned) log.warn(`could not write the report: ${toStepError(err).message}`)
      saveWarned = true
    }
  }
  const finish = async (status: RunStatus) => {
    journal.status = status
    journal.finishedAt = new Date(now()).toISOString()
    journal.durationMs = now() - started
    await save()
    return journal
  }

  const checked: Checked = new Map()
  const failures = await preflight(plan, deps, journal, modules, checked)
  if (plan.request.command === 'plan') {
    // The gate stays shut: nothing a plan calls can change anything.
    // A plan is read-only. What it could not check for want of a secret is a warning; anything
    // else its checks found would fail the run, so the plan fails, with that reason first.
    const unchecked = failures.filter(f => f.unchecked)
    const wouldFail = failures.filter(f => !f.unchecked)
    journal.warnings.push(...unchecked.map(f => `${f.phase} preflight: ${f.error.message}`))
    if (wouldFail.length > 0) journal.error = preflightError(wouldFail)
    return finish(wouldFail.length > 0 ? 'failed' : 'planned')
  }

  state.failed = failures.length > 0
  if (state.failed) {
    // Nothing is changed; only the closing steps of phases that passed their checks still run
    // (so whoever pressed the button hears why).
    journal.error = preflightError(failures)
    deps.gate.allowNotices()
  } else {
    deps.gate.open()
  }
  const failedPhases = new Set(failures.map(f => f.phase))
  const held = state.failed ? undefined : await takeLock(hooks, journal, state)
  await save()

  const updates = statusUpdates(plan, deps, modules, {
    elapsed: () => now() - started,
    caller: hooks.stillRunning
  })
  try {
    for (const [index, step] of plan.steps.entries()) {
      const record = journal.steps[index]!
      if (hooks.signal?.aborted && !journal.cancelled) cancel(journal, state, hooks.signal, step)
      // The closing notice must be the last word: no status update after it.
      if (step.stage === 'finally') await updates.stop()
      if ((state.failed && step.stage !== 'finally') || failedPhases.has(step.phase)) {
        record.status = 'skipped'
        continue
      }
      updates.current = step.title
      const module = modules[step.phase]
      const result = await runStep(module, step, pick(deps, module.needs), checked.get(step.id), {
        drill: deps.run.mode === 'drill',
        now,
        log,
        record
      })
      Object.assign(record, result)
      Object.assign(journal.outputs, result.outputs)
      journal.recovery.push(...(result.recovery ?? []))
      if (result.status === 'failed' && !state.failed) {
        state.failed = true
        journal.error = {
          message: `${step.id}: ${result.error?.message ?? 'failed'}`,
          hint: result.error?.hint
        }
      }
      await save()
    }
  } finally {
    await updates.stop()
    if (held) journal.warnings.push(...(await held.release()))
  }
  return finish(state.failed ? 'failed' : 'succeeded')
}

/** The run's lock, or undefined with the run failed (nothing changed) when it is refused. */
async function takeLock(
  hooks: EngineHooks,
  journal: Journal,
  state: { failed: boolean }
): Promise<RunLock | undefined> {
  if (!hooks.lock || journal.command === 'plan') return undefined
  try {
    const lock = await hooks.lock()
    journal.lock = lock.description
    return lock
  } catch (err) {
    state.failed = true
    journal.error = toStepError(err)
    return undefined
  }
}

function cancel(journal: Journal, state: { failed: boolean }, signal: AbortSignal, next: Step) {
  const reason = typeof signal.reason === 'string' ? signal.reason : 'cancelled'
  journal.cancelled = `${reason}: stopped before ${next.id}; the remaining steps were skipped`
  if (!state.failed) journal.error = { message: `the run was cancelled (${journal.cancelled})` }
  state.failed = true
}

/**
 * Every STATUS_UPDATE_MS while steps run, the phases that can (notify) and the caller's own channel
 * say which step the run is on. One update at a time: a tick while the previous one is still being
 * sent is left out.
 */
function statusUpdates(
  plan: Plan,
  deps: Dependencies,
  modules: Record<PhaseName, PhaseModule>,
  by: { elapsed: () => number; caller?: (status: RunningStatus) => Promise<void> }
) {
  const phases = deps.progress.plannedPhases.filter(p => modules[p].stillRunning)
  const warn = (who: string) => (err: unknown) =>
    deps.log.warn(`status update (${who}): ${toStepError(err).message}`)
  let inFlight: Promise<unknown> | undefined
  const send = () => {
    if (inFlight) return
    const status: RunningStatus = {
      step: updates.current,
      minutes: Math.round(by.elapsed() / 60_000)
    }
    inFlight = Promise.all([
      ...phases.map(phase => {
        const module = modules[phase]
        const steps = plan.steps.filter(s => s.phase === phase)
        return module.stillRunning!(steps, pick(deps, module.needs), status).catch(warn(phase))
      }),
      by.caller?.(status).catch(warn('progress'))
    ]).finally(() => (inFlight = undefined))
  }
  let stopTimer =
    (phases.length > 0 || by.caller) && plan.request.command !== 'plan'
      ? deps.clock.every(STATUS_UPDATE_MS, send)
      : () => {}
  const updates = {
    current: '',
    async stop() {
      stopTimer()
      stopTimer = () => {}
      await inFlight
    }
  }
  return updates
}

async function runStep(
  module: PhaseModule,
  step: Step,
  deps: Partial<Dependencies>,
  checked: unknown,
  at: { drill: boolean; now: () => number; log: Dependencies['log']; record: StepRecord }
): Promise<Partial<StepRecord> & StepResult> {
  const started = at.now()
  at.record.startedAt = new Date(started).toISOString()
  at.log.info(`▶ ${step.id}: ${step.title}`)
  let result: StepResult
  try {
    // The registry erases each module's own dependency type; `deps` is what it declared.
    const own = deps as Dependencies
    result = at.drill
      ? await module.drill(step, own, checked)
      : await module.run(step, own, checked)
  } catch (err) {
    result = { status: 'failed', changed: [], error: toStepError(err) }
  }
  const durationMs = at.now() - started
  if (result.status === 'failed') at.log.error(`✖ ${step.id}: ${result.error?.message ?? 'failed'}`)
  else at.log.info(`✔ ${step.id} (${result.status}, ${durationMs} ms)`)
  return { ...result, durationMs }
}
