/**
 * GitHub Actions entry: with cli.ts the only place that reads inputs and the runner's
 * environment. It turns them into typed options for rollback() and publishes the results through
 * `@actions/core`. `run()` is exported so that `@github/local-action` can run it from source.
 */
import type { RunnerCommands } from './runner/actions-core.js'
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { INPUTS, type InputName, type OutputName } from './interface.js'
import type { GitHubTarget, Logger, Trigger } from './model.js'
import { InputError, notOneOf, REQUEST_INPUTS, type RawInputs } from './request.js'
import { releaseLock, rollback, type RollbackOutcome } from './rollback.js'
import { PERMISSION_LEVELS, parseAllowlist } from './chatops/authorize.js'
import type { CommentEvent } from './chatops/comment.js'
import { chatOpsApi } from './chatops/github-api.js'
import {
  handleComment,
  planAhead,
  replyTarget,
  runAndFinish,
  type ReplyTarget
} from './chatops/run.js'
import { GitHubClient } from './github/client.js'
import { proxySettingsFrom } from './github/proxy.js'
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
  if (name === 'github-token' || name === 'push-token') core.setSecret(basicCredential(value))
  const password = urlPassword(value)
  if (password) core.setSecret(password)
  return value
}

const TRIGGER_KINDS: Record<string, Trigger['kind']> = {
  workflow_dispatch: 'dispatch',
  issue_comment: 'chatops',
  schedule: 'schedule'
}

type EventPayload = CommentEvent & { pull_request?: { number?: number } }

/** The runner's event file (the comment of an issue_comment event). */
function eventPayload(env: NodeJS.ProcessEnv): EventPayload {
  if (!env.GITHUB_EVENT_PATH) return {}
  try {
    return JSON.parse(readFileSync(env.GITHUB_EVENT_PATH, 'utf8')) as EventPayload
  } catch {
    core.warning(`could not read the event payload at ${env.GITHUB_EVENT_PATH}`)
    return {}
  }
}

/** The event that started the run. */
function trigger(env: NodeJS.ProcessEnv, payload: EventPayload): Trigger {
  return {
    kind: TRIGGER_KINDS[env.GITHUB_EVENT_NAME ?? ''] ?? 'other',
    actor: payload.comment?.user?.login ?? env.GITHUB_ACTOR,
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
  core.setFailed(`invalid runbook (${err.total} problem(s)); nothing was changed`)
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

/** The secret inputs given (masked as they are read). */
function secretInputs(): string[] {
  const names = ['github-token', 'push-token', 'hosting-token', 'database-url'] as const
  return names.map(name => secret(name)).filter((v): v is string => v !== undefined)
}

async function releaseStaleLock(env: NodeJS.ProcessEnv, workdir: string): Promise<void> {
  try {
    const done = await releaseLock({
      runbookPath: resolve(workdir, input('runbook') || INPUTS.runbook.default),
      workdir,
      env,
      githubToken: secret('push-token') ?? secret('github-token'),
      log: actionsLogger
    })
    core.info(done)
  } catch (err) {
    reportError(err, workdir)
  }
}

interface RunSetup {
  /** Aborted on SIGTERM/SIGINT: the run stops after the current step. */
  signal: AbortSignal
  env: NodeJS.ProcessEnv
  payload: EventPayload
  runId: string
  workdir: string
  reportPath: string
}

function setup(signal: AbortSignal): RunSetup {
  const env = process.env
  const workdir = env.GITHUB_WORKSPACE ?? process.cwd()
  const runId = env.GITHUB_RUN_ID
    ? `${env.GITHUB_RUN_ID}-${env.GITHUB_RUN_ATTEMPT ?? '1'}`
    : `local-${Date.now()}`
  const reportPath = join(env.RUNNER_TEMP ?? workdir, `emergency-rollback-${runId}.json`)
  return { signal, env, payload: eventPayload(env), runId, workdir, reportPath }
}

function requestInputs(): RawInputs {
  const raw: RawInputs = {}
  for (const name of ['command', ...REQUEST_INPUTS] as const) raw[name] = input(name)
  return raw
}

/** One rollback with these inputs; `reply`: a ChatOps reply kept current as the run goes on. */
async function runRollback(
  s: RunSetup,
  inputs: RawInputs,
  reply?: ReplyTarget
): Promise<RollbackOutcome> {
  const triggered = trigger(s.env, s.payload)
  return rollback({
    runbookPath: resolve(s.workdir, input('runbook') || INPUTS.runbook.default),
    inputs,
    trigger: reply ? { ...triggered, kind: 'chatops', actor: reply.actor } : triggered,
    runId: s.runId,
    workdir: s.workdir,
    env: s.env,
    secrets: {
      githubToken: secret('github-token'),
      pushToken: secret('push-token'),
      hostingToken: secret('hosting-token'),
      databaseUrl: secret('database-url')
    },
    github: githubTarget(s.env),
    reportPath: s.reportPath,
    log: actionsLogger,
    registerSecret: value => core.setSecret(value),
    initialOutputs: reply ? { 'status-comment-id': String(reply.replyId) } : undefined,
    onProgress: reply?.onProgress,
    signal: s.signal,
    lockWait: input('lock-wait'),
    lockStaleAfter: input('lock-stale-after')
  })
}

async function publish(outcome: RollbackOutcome): Promise<void> {
  setOutputs(outcome.outputs)
  await writeSummary(outcome.markdown)
  if (outcome.journal.status === 'failed') {
    core.setFailed(outcome.journal.error?.message ?? 'rollback failed')
  }
}

/** The repository's GitHub client for ChatOps (token: the github-token input). */
function chatOpsClient(env: NodeJS.ProcessEnv) {
  const target = githubTarget(env)
  const token = secret('github-token')
  if (!target || !token)
    throw new InputError([
      'github-token: a /rollback comment needs the repository and a token (permissions: issues: write, pull-requests: write)'
    ])
  return chatOpsApi(
    new GitHubClient({
      apiUrl: target.apiUrl,
      token,
      owner: target.owner,
      repo: target.repo,
      proxy: proxySettingsFrom(env),
      log: actionsLogger
    })
  )
}

/** The input's value when it is one of `allowed`, else an InputError with "did you mean". */
function oneOf<T extends string>(name: InputName, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T
  throw new InputError([notOneOf(name, value, allowed)])
}

function chatOpsPolicy() {
  const levels = PERMISSION_LEVELS.filter(level => level !== 'none')
  const given = input('chatops-permission') || INPUTS['chatops-permission'].default
  return {
    minimum: oneOf('chatops-permission', given, levels),
    allow: parseAllowlist(input('chatops-allow'))
  }
}

/** An issue_comment event: the comment is the command (never interpolated anywhere). */
async function runComment(s: RunSetup): Promise<void> {
  const mode = oneOf('chatops', input('chatops') || 'run', ['run', 'gate'] as const)
  const outcome = await handleComment({
    event: s.payload,
    api: chatOpsClient(s.env),
    policy: chatOpsPolicy(),
    ref: s.env.GITHUB_REF,
    mode,
    log: actionsLogger,
    secrets: secretInputs(),
    run: async (inputs, reply) => {
      const result = await runRollback(s, inputs, reply)
      await publish(result)
      return { status: result.journal.status, markdown: result.markdown }
    }
  })
  if (!outcome.result) core.setOutput('status', outcome.status)
  if (outcome.request) core.setOutput('request', outcome.request)
  if (outcome.status === 'failed' && !outcome.result)
    core.setFailed('the /rollback command was not run (see the reply on the comment)')
}

/** `chatops-reply`: a comment id. Anything else is refused, never read as "no gate before". */
function parseReplyId(text: string): number {
  if (/^[1-9]\d{0,15}$/.test(text)) return Number(text)
  throw new InputError([`chatops-reply: "${text}" is not a comment id (the gate's request.reply)`])
}

/**
 * `plan-before-run`: whether this plan is the one a run waits on (its reply then awaits the run);
 * refused with any command but plan.
 */
function planBeforeRun(): boolean {
  const given = input('plan-before-run') || INPUTS['plan-before-run'].default
  const ahead = oneOf('plan-before-run', given, ['true', 'false'] as const) === 'true'
  const command = input('command') || INPUTS.command.default
  if (ahead && command !== 'plan')
    throw new InputError([
      `plan-before-run: only for command plan (got ${command}); leave it out for the run itself`
    ])
  return ahead
}

/** The job after a ChatOps gate: the request comes from the inputs, the reply is updated. */
async function runAfterGate(s: RunSetup, replyId: number, ahead: boolean): Promise<void> {
  const api = chatOpsClient(s.env)
  const actor = s.payload.comment?.user?.login ?? s.env.GITHUB_ACTOR ?? 'unknown'
  const inputs = requestInputs()
  // The reply speaks of the run this plan is for, as the comment asked.
  const shown: RawInputs = ahead ? { ...inputs, command: 'run' } : inputs
  const issueNumber = s.payload.issue?.number ?? 0
  const run = async () => {
    const outcome = await runRollback(
      s,
      inputs,
      replyTarget(api, actor, shown, issueNumber, replyId)
    )
    await publish(outcome)
    const { status } = outcome.journal
    return { status, markdown: outcome.markdown, environment: outcome.outputs.environment }
  }
  const commentId = s.payload.comment?.id
  if (!commentId) return void (await run())
  const where = { actor, inputs: shown, replyId, commentId }
  const finishing = ahead ? planAhead : runAndFinish
  await finishing(api, where, run, actionsLogger, secretInputs())
}

/**
 * The runner's side of `@actions/core`: given by the bundle's entry (src/index.ts), which passes
 * the same functions without loading `@actions/core`'s HTTP client (see runner/actions-core.ts);
 * from source (`@github/local-action`, the tests) `@actions/core` itself, so that a stand-in for it
 * sees every call. Set once, first thing in run().
 */
let core: RunnerCommands

export async function run(runner?: RunnerCommands): Promise<void> {
  core = runner ?? (await import('@actions/core'))
  if (input('release-lock') === 'true')
    return releaseStaleLock(process.env, process.env.GITHUB_WORKSPACE ?? process.cwd())
  const cancellation = abortOnSignals(m => core.warning(m))
  const s = setup(cancellation.signal)
  try {
    const reply = input('chatops-reply')
    const ahead = planBeforeRun()
    if (s.env.GITHUB_EVENT_NAME === 'issue_comment') {
      if (reply) return await runAfterGate(s, parseReplyId(reply), ahead)
      return await runComment(s)
    }
    await publish(await runRollback(s, requestInputs()))
  } catch (err) {
    reportError(err, s.workdir)
  } finally {
    cancellation.dispose()
  }
}

/** What the step says when the process ends before run() settled (see util/exit-guard.ts). */
export function reportUnfinished(runner: RunnerCommands): void {
  runner.error(
    'the rollback stopped before it finished (an operation never completed); see the report'
  )
}
