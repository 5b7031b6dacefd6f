/**
 * One rollback, whatever started it: load + validate the runbook and the inputs, plan, execute,
 * journal to the report file, render the summary. Both entry points call this; it never reads
 * process.env or Actions inputs itself.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { dirname } from 'node:path'
import { execute, type Journal } from './engine.js'
import { buildDependencies, type Clock, type Dependencies } from './dependencies.js'
import type { MutationGate } from './util/mutation-gate.js'
import type { GitRunner } from './git/git-command-manager.js'
import {
  stillRunningText,
  type GitHubTarget,
  type Logger,
  type Request,
  type SecretValues,
  type StepOutputs,
  type Trigger
} from './model.js'
import { buildPlan } from './plan.js'
import { renderMarkdown } from './report/markdown.js'
import { renderText } from './report/text.js'
import {
  InputError,
  parseLockStaleAfter,
  parseLockWait,
  parseRequest,
  type RawInputs
} from './request.js'
import { INPUTS } from './interface.js'
import type { GitHubAccess } from './dependencies.js'
import type { HolderState, LockHolderInfo } from './git/lock-ref.js'
import { loadLocatedRunbook, loadRunbook } from './runbook/load.js'
import { checkRunbookText } from './runbook-text.js'
import { Redactor } from './util/redact.js'
import { runSecrets, secretProblems, secretSources } from './secrets.js'
import {
  checkDatabaseUrl,
  checkReportPath,
  checkReset,
  checkSelection,
  checkWorkdir
} from './preconditions.js'
import type { OutputName } from './interface.js'
import { releaseStaleLock, takeRunLock } from './run-lock.js'
import type { Runbook } from './runbook/schema.js'

export interface RollbackOptions {
  runbookPath: string
  inputs: RawInputs
  trigger: Trigger
  runId: string
  workdir: string
  env: Readonly<Record<string, string | undefined>>
  secrets: SecretValues
  github?: GitHubTarget
  reportPath: string
  log: Logger
  /** Called for every secret value found, so the caller can mask it too (core.setSecret). */
  registerSecret?(value: string): void
  fetch?: typeof fetch
  sleep?(ms: number): Promise<void>
  /** Runs every git command (tests observe or interfere with them). */
  gitRunner?: GitRunner
  /** The clock and the timer of the periodic status updates (tests drive them). */
  now?(): number
  every?: Clock['every']
  /** Aborted on SIGTERM/SIGINT: the run stops after the current step (see engine.ts). */
  signal?: AbortSignal
  /** Outputs known before the first step (a ChatOps reply that becomes the status comment). */
  initialOutputs?: Partial<StepOutputs>
  /** Called with the summary so far after every step (a ChatOps reply updated in place). */
  onProgress?(markdown: string): Promise<void>
  /** The run's mutation gate (tests pass one to see that a refused run never opened it). */
  gate?: MutationGate
  /** lock-wait: how long to wait in line for a held lock ("0", the default: refused at once). */
  lockWait?: string
  /** lock-stale-after: how old a lock of an ended run must be to be taken over (default 3h). */
  lockStaleAfter?: string
}

export interface RollbackOutcome {
  journal: Journal
  request: Request
  markdown: string
  text: string
  outputs: Partial<Record<OutputName, string>>
}

export async function rollback(options: RollbackOptions): Promise<RollbackOutcome> {
  const located = await loadLocatedRunbook(options.runbookPath)
  const { runbook } = located
  const request = parseRequest(options.inputs, options.trigger, options.runId)
  const lockWaitMs = parseLockWait(options.lockWait)
  const staleAfterMs = parseLockStaleAfter(
    options.lockStaleAfter,
    INPUTS['lock-stale-after'].default
  )
  await checkRunbookText(located)
  const badSecrets = secretProblems(secretSources(runbook, options.env, options.secrets))
  if (badSecrets.length > 0) throw new InputError(badSecrets)
  const redactor = new Redactor()
  for (const secret of runSecrets(runbook, options.env, options.secrets)) {
    for (const form of redactor.add(secret)) options.registerSecret?.(form)
  }
  const log = redactingLogger(options.log, redactor)
  const plan = buildPlan(runbook, request)
  checkSelection(plan)
  checkReset(plan)
  checkDatabaseUrl(plan, {
    config: runbook.database,
    inputUrl: options.secrets.databaseUrl,
    env: options.env,
    runId: request.runId
  })
  await checkWorkdir(options.workdir)
  await checkReportPath(options.reportPath, options.runbookPath)
  let runLockHeld = false
  const deps = buildDependencies({
    mode: request.command === 'drill' ? 'drill' : 'run',
    request,
    runbook,
    workdir: options.workdir,
    env: options.env,
    secrets: options.secrets,
    log,
    github: options.github,
    fetch: options.fetch,
    sleep: options.sleep,
    gitRunner: options.gitRunner,
    now: options.now,
    every: options.every,
    runLockHeld: () => runLockHeld,
    redactor,
    gate: options.gate
  })
  const writeReport = async (journal: Journal) => {
    const report = { tool: 'emergency-rollback', runbook: options.runbookPath, request, ...journal }
    await mkdir(dirname(options.reportPath), { recursive: true })
    await writeFile(options.reportPath, redactor.redact(JSON.stringify(report, null, 2)) + '\n')
  }
  let current: Journal | undefined
  const summary = () => (current ? redactor.redact(renderMarkdown(current)) : '')
  const journal = await execute(plan, deps, {
    summary,
    initialOutputs: options.initialOutputs,
    onJournal: async j => {
      current = j
      await writeReport(j)
      // Progress reports are news, not the record: one that fails must not stop the run.
      await options.onProgress?.(summary()).catch(err => log.debug(`progress report: ${err}`))
    },
    signal: options.signal,
    // The caller's reply says it too, above the steps so far (one comment, edited).
    stillRunning: options.onProgress
      ? status => options.onProgress!(`⏳ ${stillRunningText(status)}\n\n${summary()}`)
      : undefined,
    lock: async () => {
      const lock = await takeRunLock({
        ...lockScope(runbook, deps, options.trigger.kind),
        wait: {
          waitMs: lockWaitMs,
          now: deps.clock.now,
          sleep: deps.clock.sleep,
          signal: options.signal,
          staleness: { afterMs: staleAfterMs, holderState: holderState(deps.github, log) },
          // A ChatOps reply says where in the queue the run waits (until its first step).
          onQueued: message =>
            options.onProgress?.(`⏳ ${message}`).catch(err => log.debug(`progress report: ${err}`))
        }
      })
      runLockHeld = lock.holdsDatabase
      return {
        description: lock.description,
        release: async () => {
          runLockHeld = false
          return lock.release()
        }
      }
    }
  })
  return {
    // Its error becomes the action's last error line: redacted like every other output.
    journal: JSON.parse(redactor.redact(JSON.stringify(journal))) as Journal,
    request,
    markdown: redactor.redact(renderMarkdown(journal)),
    text: redactor.redact(renderText(journal)),
    outputs: {
      status: journal.status,
      report: options.reportPath,
      // Always set, empty included: the reusable workflow gates the run on it.
      environment: journal.environment ?? '',
      ...pick(journal.outputs, ['head-sha', 'branch-head', 'deployment-url', 'incident-issue'])
    }
  }
}

/** Where the run's lock lives: the runbook's git remote, and its database when it has one. */
function lockScope(runbook: Runbook, deps: Dependencies, trigger: string) {
  const { run } = deps
  const request = run.request
  const git = runbook.git
    ? { remote: runbook.git.remote, branch: request.branch ?? runbook.git.branch }
    : undefined
  return {
    checkout: deps.checkout,
    git,
    database: runbook.database && deps.database.url() ? () => deps.database.settings() : undefined,
    info: {
      holder: request.trigger.actor ?? 'unknown',
      startedAt: new Date(deps.clock.now()).toISOString(),
      run: run.runUrl ?? `${trigger === 'cli' ? 'cli' : request.runId}@${hostname()}`,
      runbook: run.runbookName,
      command: request.command
    },
    log: deps.log
  }
}

/**
 * Whether the Actions run that holds a lock has ended, asked of the Actions API (`actions: read`).
 * A holder that is not a run of this repository (the CLI, another repository), or a question
 * GitHub does not answer, is `unknown`: never taken over.
 */
function holderState(github: GitHubAccess, log: Logger) {
  return async (info: LockHolderInfo): Promise<HolderState> => {
    const target = github.target
    const client = github.client()
    if (!target || !client) return 'unknown'
    const own = `${target.serverUrl}/${target.owner}/${target.repo}/actions/runs/`
    const runId = info.run.startsWith(own)
      ? /^(\d+)$/.exec(info.run.slice(own.length))?.[1]
      : undefined
    if (!runId) return 'unknown'
    try {
      const status = await client.workflowRunStatus(runId)
      return status === 'completed' ? 'ended' : status ? 'running' : 'unknown'
    } catch (err) {
      log.warn(
        `could not ask whether the lock's run ${runId} has ended: ${err instanceof Error ? err.message : err}`
      )
      return 'unknown'
    }
  }
}

export interface ReleaseLockOptions {
  runbookPath: string
  workdir: string
  env: Readonly<Record<string, string | undefined>>
  /** The token git uses (push-token, else github-token). */
  githubToken?: string
  log: Logger
  gitRunner?: GitRunner
  /** The clock that says which queue entries are stale (tests inject it). */
  now?: () => number
}

/** Removes a stale lock (after saying who held it); returns what was done, in one sentence. */
export async function releaseLock(options: ReleaseLockOptions): Promise<string> {
  const runbook = await loadRunbook(options.runbookPath)
  await checkWorkdir(options.workdir)
  const git = runbook.git ? { remote: runbook.git.remote, branch: runbook.git.branch } : undefined
  const checkout = {
    workdir: options.workdir,
    env: options.env,
    githubToken: options.githubToken,
    tempDir: options.env.RUNNER_TEMP,
    runner: options.gitRunner,
    log: options.log
  }
  return releaseStaleLock(checkout, git, options.log, options.now)
}

function redactingLogger(log: Logger, redactor: Redactor): Logger {
  return {
    info: m => log.info(redactor.redact(m)),
    warn: m => log.warn(redactor.redact(m)),
    error: m => log.error(redactor.redact(m)),
    debug: m => log.debug(redactor.redact(m))
  }
}

function pick(
  record: Partial<Record<string, string>>,
  keys: OutputName[]
): Partial<Record<OutputName, string>> {
  return Object.fromEntries(keys.filter(k => record[k] !== undefined).map(k => [k, record[k]]))
}
