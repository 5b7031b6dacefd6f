/**
 * What to do with an `issue_comment` event: ignore it, refuse the commenter, answer an invalid
 * command, or accept it with its commits pinned to full SHAs (a later push cannot change what
 * was asked for). Every answer is a reaction plus, except for ignored comments, one reply.
 */
import { InputError, parseRequest, type RawInputs } from '../request.js'
import { authorize, type AuthorizationPolicy, type PermissionSource } from './authorize.js'
import { CHATOPS_USAGE, parseChatOpsComment } from './parse.js'

export type Reaction = '+1' | '-1' | 'confused' | 'eyes' | 'rocket' | 'hooray'

/** The fields of GitHub's issue_comment payload that ChatOps reads. */
export interface CommentEvent {
  action?: string
  comment?: { id?: number; body?: string; user?: { login?: string; type?: string } }
  issue?: { number?: number; pull_request?: unknown }
  repository?: { default_branch?: string }
}

/** The GitHub calls ChatOps makes (implemented on the Octokit client). */
export interface ChatOpsApi extends PermissionSource {
  react(commentId: number, content: Reaction): Promise<void>
  reply(issueNumber: number, body: string): Promise<{ id: number; url: string }>
  updateReply(commentId: number, body: string): Promise<void>
  /** The full SHA of a commit of the repository, or undefined when there is none. */
  resolveCommit(ref: string): Promise<string | undefined>
}

export type CommentDecision =
  | { status: 'ignored'; why: string }
  /** `reason`: said in the public reply; `detail`: for the run log only. */
  | { status: 'refused'; reason: string; detail: string }
  | { status: 'invalid'; reason: string }
  | {
      status: 'accepted'
      inputs: RawInputs
      actor: string
      issueNumber: number
      commentId: number
      reply: { id: number; url: string }
    }

export interface CommentContext {
  api: ChatOpsApi
  policy: AuthorizationPolicy
  /** The ref the workflow runs on (GITHUB_REF): must be the default branch. */
  ref?: string
}

export async function decide(event: CommentEvent, ctx: CommentContext): Promise<CommentDecision> {
  if (event.action !== 'created')
    return { status: 'ignored', why: `comment ${event.action ?? 'event'}: only new comments count` }
  if (isBot(event.comment?.user))
    return { status: 'ignored', why: 'comments by bots and apps never start a rollback' }
  const body = event.comment?.body ?? ''
  const parsed = parseChatOpsComment(body)
  if (parsed.kind === 'not-a-command') return { status: 'ignored', why: 'not a /rollback command' }
  const commentId = event.comment?.id
  const issueNumber = event.issue?.number
  const actor = event.comment?.user?.login
  if (!commentId || !issueNumber || !actor)
    return { status: 'ignored', why: 'the event has no comment id, issue number or author' }

  const answer = async (reaction: Reaction, text: string) => {
    await ctx.api.react(commentId, reaction)
    await ctx.api.reply(issueNumber, text)
  }
  const notRun = async (reason: string): Promise<CommentDecision> => {
    await answer('confused', invalidReply(reason))
    return { status: 'invalid', reason }
  }
  const authorization = await authorize(ctx.api, actor, ctx.policy)
  if (!authorization.allowed) {
    await answer('-1', `🚫 **/rollback refused**: ${authorization.reason}.`)
    return { status: 'refused', reason: authorization.reason, detail: authorization.detail }
  }
  const defaultBranch = event.repository?.default_branch
  if (defaultBranch && ctx.ref && ctx.ref !== `refs/heads/${defaultBranch}`)
    return notRun(
      `the workflow runs on ${ctx.ref}, not the default branch ${defaultBranch}: the runbook and code must come from the default branch`
    )
  if (parsed.kind === 'invalid') return notRun(parsed.reason)
  const problem = requestProblem(parsed.inputs)
  if (problem) return notRun(problem)
  const pinned = await pinCommits(parsed.inputs, ctx.api)
  if ('problem' in pinned) return notRun(pinned.problem)
  await ctx.api.react(commentId, 'eyes')
  const reply = await ctx.api.reply(issueNumber, acceptedReply(actor, pinned.inputs))
  return { status: 'accepted', inputs: pinned.inputs, actor, issueNumber, commentId, reply }
}

/**
 * The inputs' own rules (src/request.ts), checked before the command is accepted: a request the
 * run would refuse (`/rollback run` without a severity, `strategy=rset`) is answered here.
 */
function requestProblem(inputs: RawInputs): string | undefined {
  try {
    parseRequest(inputs, { kind: 'chatops' }, 'chatops')
    return undefined
  } catch (err) {
    // Named as the comment names them: `strategy` is the git-strategy input.
    if (err instanceof InputError)
      return err.problems.join('; ').replace(/\bgit-strategy\b/g, 'strategy')
    throw err
  }
}

/** A GitHub App or bot account (`type: Bot`, login `name[bot]`): it has no repository role to check. */
function isBot(user: { login?: string; type?: string } | undefined): boolean {
  return user?.type === 'Bot' || /\[bot\]$/i.test(user?.login ?? '')
}

function invalidReply(reason: string): string {
  return `⚠️ **/rollback not run**: ${reason}.\n\nUsage:\n\n\`\`\`\n${CHATOPS_USAGE}\n\`\`\`\nNothing was changed.`
}

export function acceptedReply(actor: string, inputs: RawInputs): string {
  // Inputs left empty (the job after a gate reads every input) are not facts of the request.
  const facts = Object.entries(inputs)
    .filter(([, value]) => value)
    .map(([key, value]) => `\`${key}\`: \`${value}\``)
  return `👀 **/rollback ${inputs.command}** from @${actor} accepted: ${facts.join(' · ')}\n\nThe plan and the result will appear here.`
}

/** Every commit the command names, as a full SHA of this repository. */
async function pinCommits(
  inputs: RawInputs,
  api: ChatOpsApi
): Promise<{ inputs: RawInputs } | { problem: string }> {
  const pinned: RawInputs = { ...inputs }
  const resolve = async (key: keyof RawInputs, ref: string) => {
    if (!/^[0-9a-f]{7,40}$/i.test(ref)) return `${key}: "${ref}" is not a commit SHA (7-40 hex)`
    const sha = await api.resolveCommit(ref)
    return sha ?? `${key}: commit ${ref} does not exist in this repository`
  }
  const one = async (key: keyof RawInputs): Promise<string | undefined> => {
    const value = inputs[key]
    if (value === undefined) return undefined
    const parts = key === 'revert' ? value.split(/(\.\.|,)/) : [value]
    const out: string[] = []
    for (const part of parts) {
      if (part === '..' || part === ',' || part === '') out.push(part)
      else {
        const sha = await resolve(key, part)
        if (!/^[0-9a-f]{40}$/.test(sha)) return sha
        out.push(sha)
      }
    }
    pinned[key] = out.join('')
    return undefined
  }
  for (const key of ['revert', 'reset-to', 'confirm'] as const) {
    const problem = await one(key)
    if (problem) return { problem }
  }
  return { inputs: pinned }
}

/** The reply's body as the run goes on: the summary under the accepted line. */
export function progressReply(actor: string, inputs: RawInputs, summary: string): string {
  return `${acceptedReply(actor, inputs).split('\n')[0]}\n\n${summary}`
}
