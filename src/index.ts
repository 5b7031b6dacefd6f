/**
 * GitHub Actions entry point: the only place (with cli.ts) that reads inputs and the runner's
 * environment. It turns them into typed options for rollback() and publishes the results.
 */
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { INPUTS, type InputName, type OutputName } from './interface.js'
import type { GitHubTarget, Logger, Trigger } from './model.js'
import { InputError, REQUEST_INPUTS, type RawInputs } from './request.js'
import { rollback } from './rollback.js'
import { RunbookError } from './runbook/load.js'
import { basicCredential } from './git/auth.js'
import { Redactor, urlPassword } from './util/redact.js'
import { untilFinished } from './util/exit-guard.js'
import { WorkflowCommands } from './workflow-commands.js'
import { createFetch, proxySettingsFrom } from './http/index.js'

const core = new WorkflowCommands(process.env)

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

/** The event that started the run, read from the runner's event file. */
function trigger(env: NodeJS.ProcessEnv): Trigger {
  const eventName = env.GITHUB_EVENT_NAME ?? ''
  let payload: { issue?: { number?: number }; pull_request?: { number?: number } } = {}
  if (env.GITHUB_EVENT_PATH) {
    try {
      payload = JSON.parse(readFileSync(env.GITHUB_EVENT_PATH, 'utf8')) as typeof payload
    } catch {
      core.warning(`could not read the event payload at ${env.GITHUB_EVENT_PATH}`)
    }
  }
  const kind =
    eventName === 'workflow_dispatch'
      ? 'dispatch'
      : eventName === 'issue_comment'
        ? 'chatops'
        : eventName === 'schedule'
          ? 'schedule'
          : 'other'
  return {
    kind,
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

function setFailed(message: string): void {
  process.exitCode = 1
  core.error(message)
}

function setOutputs(outputs: Partial<Record<OutputName, string>>): void {
  for (const [name, value] of Object.entries(outputs)) core.setOutput(name, value)
}

export async function main(): Promise<void> {
  const env = process.env
  const runId = env.GITHUB_RUN_ID
    ? `${env.GITHUB_RUN_ID}-${env.GITHUB_RUN_ATTEMPT ?? '1'}`
    : `local-${Date.now()}`
  const workdir = env.GITHUB_WORKSPACE ?? process.cwd()
  const reportPath = join(env.RUNNER_TEMP ?? workdir, `emergency-rollback-${runId}.json`)
  const raw: RawInputs = {}
  for (const name of ['command', ...REQUEST_INPUTS] as const) {
    raw[name] = input(name)
  }
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
      // HTTPS_PROXY / HTTP_PROXY / NO_PROXY of the runner, for every API call.
      fetch: createFetch(proxySettingsFrom(env))
    })
    setOutputs(outcome.outputs)
    try {
      core.appendSummary(outcome.markdown)
    } catch (err) {
      // The rollback's outcome stands; only its summary could not be shown (see the report).
      core.warning(`could not write the job summary: ${(err as Error).message}`)
    }
    if (outcome.journal.status === 'failed') {
      setFailed(outcome.journal.error?.message ?? 'rollback failed')
    }
  } catch (err) {
    core.setOutput('status', 'failed')
    if (err instanceof RunbookError) {
      for (const p of err.problems) {
        core.error(`${p.path || '(top level)'}: ${p.message}`, {
          title: 'Invalid runbook',
          file: p.file.startsWith(workdir) ? p.file.slice(workdir.length + 1) : p.file,
          startLine: p.line,
          startColumn: p.col
        })
      }
      setFailed(`invalid runbook (${err.problems.length} problem(s)); nothing was changed`)
      return
    }
    if (err instanceof InputError) {
      for (const problem of err.problems) core.error(problem, { title: 'Invalid input' })
      setFailed(`invalid inputs (${err.problems.length} problem(s)); nothing was changed`)
      return
    }
    const message = err instanceof Error ? err.message : String(err)
    setFailed(new Redactor().redact(message))
  }
}

await untilFinished(main, () =>
  core.error(
    'the rollback stopped before it finished (an operation never completed); see the report'
  )
)
