/**
 * What phases may use, built once per run from typed options by `buildDependencies`. Each phase
 * module declares the names it needs (`PhaseModule.needs`) and the engine hands it exactly those:
 * the database phase never sees the hosting token, the flags phase never sees the database URL.
 * Secrets reach only the dependency that uses them (resolved here, not read by phases).
 */
import type { GitHubTarget, Request, SecretValues, StepOutputs } from './model.js'
import { dbSettings, type DbSettings } from './db/connection.js'
import { GitHubClient } from './github/client.js'
import { createFetch, proxySettingsFrom, type ProxySettings } from './http/index.js'
import type { Checkout } from './git/session.js'
import type { GitRunner } from './git/git-command-manager.js'
import { createHostingProvider, type HostingProvider } from './providers/index.js'
import type { PhaseName, Runbook } from './runbook/schema.js'
import { runSecrets } from './secrets.js'
import type { Logger } from './util/logger.js'
import { Redactor } from './util/redact.js'
import { MutationGate } from './util/mutation-gate.js'
import { gatedProvider } from './providers/gated.js'

/** Who this run is, for messages, names of backups and commit trailers. */
export interface RunInfo {
  mode: 'run' | 'drill'
  request: Request
  runbookName: string
  /** The Actions run's URL, when there is one. */
  runUrl?: string
  /** `run <id> (<url>)`: names the run in commits and messages. */
  label: string
}

export interface Clock {
  now(): number
  sleep(ms: number): Promise<void>
  /** Calls `fn` every `ms` until the returned function is called (never keeps the process alive). */
  every(ms: number, fn: () => void): () => void
}

/** The engine's view of the run so far; phases read it, only the engine changes it. */
export interface Progress {
  readonly plannedPhases: readonly PhaseName[]
  readonly outputs: Readonly<Partial<StepOutputs>>
  /** A step (or a preflight) has failed: closing notices say so. */
  readonly failed: boolean
  /** The run's report so far as markdown (redacted). */
  summary(): string
}

export interface DatabaseAccess {
  /** URL and timeouts; throws a RollbackError naming the input/variable when no URL is set. */
  settings(): DbSettings
  /** The URL, or undefined when none is configured (phases for which a database is optional). */
  url(): string | undefined
}

export interface HostingAccess {
  /** The runbook's provider with its token; throws a RollbackError naming what is missing. */
  provider(): HostingProvider
}

export interface GitHubAccess {
  target?: GitHubTarget
  /** A client for the repository, or undefined (then `unavailable` says why). */
  client(): GitHubClient | undefined
  unavailable(): string
}

export interface WebhookAccess {
  /** The variable the runbook names (`notify.webhook-env`), when it names one. */
  variable?: string
  url?: string
  /** Asked before each post (the run's mutation gate). */
  gate?: MutationGate
}

export interface Dependencies {
  run: RunInfo
  log: Logger
  clock: Clock
  /** Removes every secret of the run from text that leaves the process. */
  redactor: Redactor
  /** HTTP for checks and probes (verify, monitor). */
  fetch: typeof fetch
  checkout: Checkout
  database: DatabaseAccess
  hosting: HostingAccess
  github: GitHubAccess
  webhook: WebhookAccess
  progress: Progress
  /**
   * Shut until the engine has seen every preflight pass (never opened for `plan`); every push,
   * hosting write, database session, comment, issue and webhook post asks it first.
   */
  gate: MutationGate
}

export interface DependencyOptions {
  mode: 'run' | 'drill'
  request: Request
  runbook: Runbook
  workdir: string
  /** The environment snapshot the entry point passed in (the runbook names variables in it). */
  env: Readonly<Record<string, string | undefined>>
  secrets: SecretValues
  log: Logger
  github?: GitHubTarget
  fetch?: typeof fetch
  sleep?(ms: number): Promise<void>
  now?(): number
  every?: Clock['every']
  gitRunner?: GitRunner
  /** Whether the run holds the database advisory lock for its whole length (steps then take none). */
  runLockHeld?(): boolean
  /** The engine's progress; a placeholder until the engine supplies its own. */
  progress?: Progress
  redactor?: Redactor
  /** Tests pass their own to look at it afterwards; otherwise a new, shut one. */
  gate?: MutationGate
}

const realSleep = (ms: number) => new Promise<void>(resolve => setTimeout(resolve, ms))

const realEvery: Clock['every'] = (ms, fn) => {
  const timer = setInterval(fn, ms)
  timer.unref()
  return () => clearInterval(timer)
}

export const NO_PROGRESS: Progress = {
  plannedPhases: [],
  outputs: {},
  failed: false,
  summary: () => ''
}

export function runLabel(runId: string, runUrl?: string): string {
  return `run ${runId}${runUrl ? ` (${runUrl})` : ''}`
}

export function buildDependencies(options: DependencyOptions): Dependencies {
  const { runbook, env, secrets, request } = options
  const clock: Clock = {
    now: options.now ?? Date.now,
    sleep: options.sleep ?? realSleep,
    every: options.every ?? realEvery
  }
  // Hosting, verify and the webhook honour the proxy variables of the run's environment.
  const fetchImpl = options.fetch ?? createFetch(proxySettingsFrom(env))
  const redactor = options.redactor ?? primedRedactor(runbook, env, secrets)
  const gate = options.gate ?? new MutationGate()
  const databaseSource = {
    config: runbook.database,
    inputUrl: secrets.databaseUrl,
    env,
    runId: request.runId,
    gate
  }
  const webhookVariable = runbook.notify?.['webhook-env']
  let hostingProvider: HostingProvider | undefined
  return {
    run: {
      mode: options.mode,
      request,
      runbookName: runbook.name,
      runUrl: options.github?.runUrl,
      label: runLabel(request.runId, options.github?.runUrl)
    },
    log: options.log,
    clock,
    redactor,
    fetch: fetchImpl,
    checkout: {
      workdir: options.workdir,
      env,
      // git pushes with the push token; the API calls below never see it.
      githubToken: secrets.pushToken ?? secrets.githubToken,
      tempDir: env.RUNNER_TEMP,
      runner: options.gitRunner,
      log: options.log,
      gate
    },
    database: {
      settings: () => ({
        ...dbSettings(databaseSource),
        runLockHeld: options.runLockHeld?.() ?? false
      }),
      url: () =>
        secrets.databaseUrl ?? env[runbook.database?.['url-env'] ?? 'DATABASE_URL'] ?? undefined
    },
    hosting: {
      // One client a run: preflight and run share what it has read (each entity read once).
      provider: () =>
        (hostingProvider ??= gatedProvider(
          createHostingProvider({
            hosting: runbook.hosting,
            inputToken: secrets.hostingToken,
            env,
            githubApiUrl: options.github?.apiUrl,
            fetch: fetchImpl,
            sleep: clock.sleep,
            log: options.log
          }),
          gate
        ))
    },
    github: githubAccess(
      options.github,
      secrets.githubToken,
      proxySettingsFrom(env),
      options.log,
      gate
    ),
    webhook: {
      variable: webhookVariable,
      url: webhookVariable ? env[webhookVariable] || undefined : undefined,
      gate
    },
    progress: options.progress ?? NO_PROGRESS,
    gate
  }
}

function githubAccess(
  target: GitHubTarget | undefined,
  token: string | undefined,
  proxy: ProxySettings,
  log: Logger,
  gate: MutationGate
): GitHubAccess {
  let client: GitHubClient | undefined
  return {
    target,
    client() {
      if (!target || !token) return undefined
      client ??= new GitHubClient({
        apiUrl: target.apiUrl,
        token,
        owner: target.owner,
        repo: target.repo,
        proxy,
        log,
        gate
      })
      return client
    },
    unavailable: () =>
      // Named for both entry points: the action's input, the CLI's variables.
      !target
        ? 'no GitHub repository configured ($GITHUB_REPOSITORY=owner/repo for the CLI)'
        : 'no GitHub token (the github-token input; $GITHUB_TOKEN for the CLI)'
  }
}

function primedRedactor(
  runbook: Runbook,
  env: Readonly<Record<string, string | undefined>>,
  secrets: SecretValues
): Redactor {
  const redactor = new Redactor()
  for (const secret of runSecrets(runbook, env, secrets)) redactor.add(secret)
  return redactor
}

/** The dependencies a phase declared, and nothing else. */
export function pick<N extends keyof Dependencies>(
  deps: Dependencies,
  names: readonly N[]
): Pick<Dependencies, N> {
  const picked = {} as Pick<Dependencies, N>
  for (const name of names) picked[name] = deps[name]
  return picked
}
