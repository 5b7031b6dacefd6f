/**
 * GitHub Actions entry: with cli.ts the only place that reads inputs and the runner's
 * environment. It turns them into typed options for rollback() and publishes the results through
 * `@actions/core`. `run()` is exported so that `@github/local-action` can run it from source.
 */
import * as core from '@actions/core'
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { INPUTS, type InputName, type OutputName } from './interface.js'
import type { GitHubTarget, Logger, Trigger } from './model.js'
import { InputError, REQUEST_INPUTS, type RawInputs } from './request.js'
import { releaseLock, rollback } from './rollback.js'
import { RunbookError } from './runbook/load.js'
import { basicCredential } from './git/auth.js'
import { Redactor, urlPassword } from './util/redact.js'
import { abortOnSignals } from './util/signals.js'

function input(name: InputName): string {
  return core.getInput(name)
}

function secret(name: InputName): string | undefined {
  const value = input(name)
  if (!value) return undefined
  core.setSecret(value)
  // git sees the token as a Basic credential: mask that form too (as actions/checkout does).
  if (name === 'github-token') core.setSecret(basicCredential(value))
  const password = urlPassword(value)
  if (password) core.setSecret(password)
  return value
}

const TRIGGER_KINDS: Record<string, Trigger['kind']> = {
  workflow_dispatch: 'dispatch',
  issue_comment: 'chatops',
  schedule: 'schedule'
}

/** The event that started the run, read from the runner's event file. */
function trigger(env: NodeJS.ProcessEnv): Trigger {
  let payload: { issue?: { number?: number }; pull_request?: { number?: number } } = {}
  if (env.GITHUB_EVENT_PATH) {
    try {
      payload = JSON.parse(readFileSync(env.GITHUB_EVENT_PATH, 'utf8')) as typeof payload
    } catch {
      core.warning(`could not read the event payload at ${env.GITHUB_EVENT_PATH}`)
    }
  }
  return {
    kind: TRIGGER_KINDS[env.GITHUB_EVENT_NAME ?? ''] ?? 'other',
    actor: env.GITHUB_ACTOR,
    issueNumber: payload.issue?.number ?? payload.pull_request?.number
  }
}

function githubTarget(env: NodeJS.ProcessEnv): GitHubTarget | undefined {
  const [owner, repo] = (env.GITHUB_REPOSITORY ?? '').split('/')
  if (!owner || !repo) return undefined
  const serverUrl = env.GITHUB_SERVER_URL ?? 'https://github.com'
  return {
    apiUrl: env.GITHUB_API_URL ?? 'https://api.github.com',
    serverUrl,
    owner,
    repo,
    runUrl: env.GITHUB_RUN_ID
      ? `${serverUrl}/${owner}/${repo}/actions/runs/${env.GITHUB_RUN_ID}`
      : undefined
  }
}

const actionsLogger: Logger = {
  info: m => core.info(m),
  warn: m => core.warning(m),
  error: m => core.error(m),
  debug: m => core.debug(m)
}

function setOutputs(outputs: Partial<Record<OutputName, string>>): void {
  for (const [name, value] of Object.entries(outputs)) core.setOutput(name, value)
}

async function writeSummary(markdown: string): Promise<void> {
  try {
    await core.summary.addRaw(markdown).write()
  } catch (err) {
    // The rollback's outcome stands; only its summary could not be shown (see the report).
    core.warning(`could not write the job summary: ${(err as Error).message}`)
  }
}

/** One annotation per problem, on the runbook line it concerns; then the step fails. */
function reportInvalidRunbook(err: RunbookError, workdir: string): void {
  for (const p of err.problems) {
    core.error(`${p.path || '(top level)'}: ${p.message}`, {
      title: 'Invalid runbook',
      file: p.file.startsWith(workdir) ? p.file.slice(workdir.length + 1) : p.file,
      startLine: p.line,
      startColumn: p.col
    })
  }
  core.setFailed(`invalid runbook (${err.problems.length} problem(s)); nothing was changed`)
}

function reportInvalidInputs(err: InputError): void {
  for (const problem of err.problems) core.error(problem, { title: 'Invalid input' })
  core.setFailed(`invalid inputs (${err.problems.length} problem(s)); nothing was changed`)
}

function reportError(err: unknown, workdir: string): void {
  core.setOutput('status', 'failed')
  if (err instanceof RunbookError) return reportInvalidRunbook(err, workdir)
  if (err instanceof InputError) return reportInvalidInputs(err)
  const message = err instanceof Error ? err.message : String(err)
  core.setFailed(new Redactor().redact(message))
}

async function releaseStaleLock(env: NodeJS.ProcessEnv, workdir: string): Promise<void> {
  try {
    const done = await releaseLock({
      runbookPath: resolve(workdir, input('runbook') || INPUTS.runbook.default),
      workdir,
      env,
      githubToken: secret('github-token'),
      log: actionsLogger
    })
    core.info(done)
  } catch (err) {
    reportError(err, workdir)
  }
}

export async function run(): Promise<void> {
  const env = process.env
  const workdir = env.GITHUB_WORKSPACE ?? process.cwd()
  if (input('release-lock') === 'true') return releaseStaleLock(env, workdir)
  const runId = env.GITHUB_RUN_ID
    ? `${env.GITHUB_RUN_ID}-${env.GITHUB_RUN_ATTEMPT ?? '1'}`
    : `local-${Date.now()}`
  const reportPath = join(env.RUNNER_TEMP ?? workdir, `emergency-rollback-${runId}.json`)
  const raw: RawInputs = {}
  for (const name of ['command', ...REQUEST_INPUTS] as const) {
    raw[name] = input(name)
  }
  const cancellation = abortOnSignals(m => core.warning(m))
  try {
    const outcome = await rollback({
      runbookPath: resolve(workdir, input('runbook') || INPUTS.runbook.default),
      inputs: raw,
      trigger: trigger(env),
      runId,
      workdir,
      env,
      secrets: {
        githubToken: secret('github-token'),
        hostingToken: secret('hosting-token'),
        databaseUrl: secret('database-url')
      },
      github: githubTarget(env),
      reportPath,
      log: actionsLogger,
      registerSecret: value => core.setSecret(value),
      signal: cancellation.signal
    })
    setOutputs(outcome.outputs)
    await writeSummary(outcome.markdown)
    if (outcome.journal.status === 'failed') {
      core.setFailed(outcome.journal.error?.message ?? 'rollback failed')
    }
  } catch (err) {
    reportError(err, workdir)
  } finally {
    cancellation.dispose()
  }
}

/** What the step says when the process ends before run() settled (see util/exit-guard.ts). */
export function reportUnfinished(): void {
  core.error(
    'the rollback stopped before it finished (an operation never completed); see the report'
  )
}
