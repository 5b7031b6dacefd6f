/**
 * A `/rollback` comment from event to result: decide (ignore, refuse, answer an invalid command,
 * or accept with pinned SHAs), then either run it here or, as a gate, hand the request to a later
 * job that runs behind the severity's GitHub Environment. The reply is updated in place as the
 * run goes on, and a last reaction says how it ended.
 */
import type { RawInputs } from '../request.js'
import type { Logger } from '../util/logger.js'
import { RollbackError } from '../util/errors.js'
import { Redactor } from '../util/redact.js'
import type { AuthorizationPolicy } from './authorize.js'
import { decide, progressReply, type ChatOpsApi, type CommentEvent } from './comment.js'

export type ChatOpsStatus = 'ignored' | 'refused' | 'failed' | 'accepted'

/** What the caller's run reports back (a subset of rollback()'s outcome). */
export interface RunResult {
  status: 'planned' | 'succeeded' | 'failed'
  markdown: string
  /** The GitHub Environment the severity runs behind ('' or absent: none). */
  environment?: string
}

/** Where the run's reply lives and how to keep it current. */
export interface ReplyTarget {
  actor: string
  issueNumber: number
  replyId: number
  onProgress(markdown: string): Promise<void>
}

export interface ChatOpsOptions {
  event: CommentEvent
  api: ChatOpsApi
  policy: AuthorizationPolicy
  /** GITHUB_REF: the workflow must run on the default branch. */
  ref?: string
  mode: 'run' | 'gate'
  log: Logger
  /** Secret values never to be shown in the reply (the token inputs, the database URL). */
  secrets?: string[]
  run(inputs: RawInputs, reply: ReplyTarget): Promise<RunResult>
}

export interface ChatOpsOutcome {
  status: ChatOpsStatus | RunResult['status']
  /** For a gate: the accepted request and the reply to update, as the `request` output. */
  request?: string
  result?: RunResult
}

export async function handleComment(options: ChatOpsOptions): Promise<ChatOpsOutcome> {
  const { api, log } = options
  const decision = await decide(options.event, {
    api,
    policy: options.policy,
    ref: options.ref
  })
  if (decision.status === 'ignored') {
    log.info(`chatops: ignored (${decision.why})`)
    return { status: 'ignored' }
  }
  if (decision.status === 'refused') {
    log.warn(`chatops: refused: ${decision.detail}`)
    return { status: 'refused' }
  }
  if (decision.status === 'invalid') {
    log.error(`chatops: ${decision.reason}`)
    return { status: 'failed' }
  }
  const { inputs, actor, issueNumber, commentId, reply } = decision
  if (options.mode === 'gate') {
    const request = JSON.stringify({ ...inputs, reply: String(reply.id) })
    return { status: 'accepted', request }
  }
  const result = await runAndFinish(
    api,
    { actor, inputs, replyId: reply.id, commentId },
    () => options.run(inputs, replyTarget(api, actor, inputs, issueNumber, reply.id)),
    log,
    options.secrets
  )
  return { status: result.status, result }
}

/**
 * Runs an accepted request and always ends its reply: with the result, or, when the run throws
 * (an invalid runbook, a refused input), with why it stopped, 👎, and the error rethrown.
 */
export async function runAndFinish(
  api: ChatOpsApi,
  where: { actor: string; inputs: RawInputs; replyId: number; commentId: number },
  run: () => Promise<RunResult>,
  log: Logger,
  secrets: string[] = []
): Promise<RunResult> {
  const result = await runOrStop(api, where, run, log, secrets)
  await finish(api, where, result, log)
  return result
}

/**
 * The plan a gated run waits on (the reusable workflow's plan job): the reply shows it and what
 * comes next, the approval in the severity's environment or the run itself, and no result
 * reaction: that belongs to the run. A plan that stops the run ends the reply as a failure: one
 * that threw, or failed naming no environment (the workflow then starts nothing).
 */
export async function planAhead(
  api: ChatOpsApi,
  where: { actor: string; inputs: RawInputs; replyId: number; commentId: number },
  run: () => Promise<RunResult>,
  log: Logger,
  secrets: string[] = []
): Promise<RunResult> {
  const result = await runOrStop(api, where, run, log, secrets)
  if (result.status === 'failed' && !result.environment) {
    const markdown = `❌ **The run will not start**: its plan failed.\n\n${result.markdown}`
    await finish(api, where, { ...result, markdown }, log)
    return result
  }
  const next = result.environment
    ? `⏳ **Awaiting approval**: the run waits for a reviewer of the \`${result.environment}\` environment.`
    : '⏳ **The run starts next.**'
  try {
    const body = progressReply(where.actor, where.inputs, `${next}\n\n${result.markdown}`)
    await api.updateReply(where.replyId, body)
  } catch (err) {
    log.warn(`chatops: could not post the plan: ${err instanceof Error ? err.message : err}`)
  }
  return result
}

/** The run's result; when it throws, the reply ends with why it stopped, 👎, and the error rethrown. */
async function runOrStop(
  api: ChatOpsApi,
  where: { actor: string; inputs: RawInputs; replyId: number; commentId: number },
  run: () => Promise<RunResult>,
  log: Logger,
  secrets: string[]
): Promise<RunResult> {
  try {
    return await run()
  } catch (err) {
    const markdown = stoppedMarkdown(err, secrets)
    await finish(api, where, { status: 'failed', markdown }, log)
    throw err
  }
}

function stoppedMarkdown(err: unknown, secrets: string[]): string {
  const message = err instanceof Error ? err.message : String(err)
  const hint = err instanceof RollbackError && err.hint ? `\n${err.hint}` : ''
  const redactor = new Redactor()
  for (const secret of secrets) redactor.add(secret)
  const lines = redactor.redact(message + hint).replace(/`/g, "'")
  return `❌ **The rollback stopped**: see the workflow run's log.\n\n\`\`\`text\n${lines}\n\`\`\``
}

export function replyTarget(
  api: ChatOpsApi,
  actor: string,
  inputs: RawInputs,
  issueNumber: number,
  replyId: number
): ReplyTarget {
  return {
    actor,
    issueNumber,
    replyId,
    onProgress: markdown => api.updateReply(replyId, progressReply(actor, inputs, markdown))
  }
}

/** The reply's final body and the last reaction; a failure here only warns. */
export async function finish(
  api: ChatOpsApi,
  where: { actor: string; inputs: RawInputs; replyId: number; commentId: number },
  result: RunResult,
  log: Logger
): Promise<void> {
  try {
    await api.updateReply(where.replyId, progressReply(where.actor, where.inputs, result.markdown))
    await api.react(where.commentId, result.status === 'failed' ? '-1' : 'rocket')
  } catch (err) {
    log.warn(`chatops: could not post the result: ${err instanceof Error ? err.message : err}`)
  }
}
