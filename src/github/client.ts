/**
 * What notify, the GitHub-variables provider and ChatOps ask of GitHub, on Octokit
 * (src/github/octokit.ts: retries, rate limits, proxy). `@actions/github` loads on the first
 * call only, so a run that needs no GitHub call does not pay for it. Errors become
 * GitHubApiErrors with the fix (permissions, token, network).
 */
import { RollbackError } from '../util/errors.js'
import type { Logger } from '../util/logger.js'
import type { MutationGate } from '../util/mutation-gate.js'
import type { Octokit, RetryLimits } from './octokit.js'
import type { ProxySettings } from './proxy.js'

export interface GitHubClientOptions {
  apiUrl: string
  token: string
  owner: string
  repo: string
  proxy?: ProxySettings
  log?: Logger
  limits?: Partial<RetryLimits>
  /** The run's mutation gate: asked before every call that is not a GET. */
  gate?: MutationGate
}

export interface Comment {
  id: number
  html_url: string
  body?: string
}

export interface Issue {
  number: number
  html_url: string
  body?: string | null
  state?: string
}

export type Reaction = '+1' | '-1' | 'laugh' | 'confused' | 'heart' | 'hooray' | 'rocket' | 'eyes'

export class GitHubApiError extends RollbackError {
  constructor(
    message: string,
    hint: string | undefined,
    readonly status: number
  ) {
    super(message, hint)
    this.name = 'GitHubApiError'
  }
}

/** Issue pages read while looking for one issue: GitHub lists 100 a page. */
export const MAX_ISSUE_PAGES = 50

/** A POST that failed may still have created the comment or issue: never repeat it on a 5xx. */
const ONCE = { request: { retries: 0 } }

export class GitHubClient {
  private loaded?: Promise<Octokit>

  constructor(private readonly options: GitHubClientOptions) {}

  private octokit(): Promise<Octokit> {
    this.loaded ??= import('./octokit.js').then(m => m.createOctokit(this.options))
    return this.loaded
  }

  private get repoArgs() {
    return { owner: this.options.owner, repo: this.options.repo }
  }

  private async call<T>(what: string, fn: (o: Octokit) => Promise<{ data: T }>): Promise<T> {
    this.askGate(what)
    const octokit = await this.octokit()
    try {
      return (await fn(octokit)).data
    } catch (err) {
      throw toApiError(what, err)
    }
  }

  /** Comments, issues and reactions are notices (allowed after a failed preflight); the rest are changes. */
  private askGate(what: string): void {
    const gate = this.options.gate
    if (!gate || /^GET /.test(what)) return
    if (/^(POST|PATCH) issues\b/.test(what)) gate.assertMayNotify(`send ${what} to GitHub`)
    else gate.assertOpen(`send ${what} to GitHub`)
  }

  /** Any REST call, `path` relative to the API root (with its query string). */
  request<T>(method: string, path: string, body?: unknown): Promise<T> {
    return this.call(
      `${method} ${path}`,
      o =>
        o.request(`${method} ${path}`, {
          ...(body !== undefined ? { data: body } : {}),
          ...(method === 'POST' ? ONCE : {})
        }) as Promise<{ data: T }>
    )
  }

  createComment(issueNumber: number, body: string): Promise<Comment> {
    return this.call(`POST issues/${issueNumber}/comments`, o =>
      o.rest.issues.createComment({ ...this.repoArgs, issue_number: issueNumber, body, ...ONCE })
    )
  }

  updateComment(commentId: number, body: string): Promise<Comment> {
    return this.call(`PATCH issues/comments/${commentId}`, o =>
      o.rest.issues.updateComment({ ...this.repoArgs, comment_id: commentId, body })
    )
  }

  createIssue(issue: { title: string; body: string; labels?: string[] }): Promise<Issue> {
    return this.call('POST issues', o =>
      o.rest.issues.create({ ...this.repoArgs, ...issue, ...ONCE })
    )
  }

  updateIssue(
    issueNumber: number,
    fields: { title?: string; body?: string; state?: 'open' | 'closed' }
  ): Promise<Issue> {
    return this.call(`PATCH issues/${issueNumber}`, o =>
      o.rest.issues.update({ ...this.repoArgs, issue_number: issueNumber, ...fields })
    )
  }

  /**
   * The first open issue (newest first) carrying every one of `labels` that `match` accepts,
   * pull requests left out. Reads page after page until found, at most MAX_ISSUE_PAGES.
   */
  findOpenIssue(labels: string[], match: (issue: Issue) => boolean) {
    return this.findIssue(labels, match, 'open')
  }

  /** As findOpenIssue, among open and closed issues (`state: 'all'`) or only closed ones. */
  async findIssue(
    labels: string[],
    match: (issue: Issue) => boolean,
    state: 'open' | 'closed' | 'all'
  ) {
    const what = 'GET issues'
    const octokit = await this.octokit()
    const pages = octokit.paginate.iterator(octokit.rest.issues.listForRepo, {
      ...this.repoArgs,
      state,
      per_page: 100,
      ...(labels.length > 0 ? { labels: labels.join(',') } : {})
    })
    let read = 0
    try {
      for await (const page of pages) {
        const found = page.data.find(i => i.pull_request === undefined && match(i))
        if (found) return found as Issue
        if (++read >= MAX_ISSUE_PAGES) throw tooManyIssues(labels)
      }
    } catch (err) {
      throw toApiError(what, err)
    }
    return undefined
  }

  /**
   * Before the first change: the token may read the repository's issues (one issue at most). A
   * token without the issues permission (a push-only token passed as github-token) is refused here
   * with the fix, not by the first comment in the middle of the rollback. (Write access cannot be
   * probed without writing.)
   */
  async checkIssuesAccess(): Promise<void> {
    await this.call('GET issues', o =>
      o.rest.issues.listForRepo({ ...this.repoArgs, state: 'all', per_page: 1 })
    )
  }

  /** A workflow run's status (queued, in_progress, completed, ...); undefined when there is none. */
  async workflowRunStatus(runId: string): Promise<string | undefined> {
    const answer = await this.orUndefined(
      this.call(`GET actions/runs/${runId}`, o =>
        o.rest.actions.getWorkflowRun({ ...this.repoArgs, run_id: Number(runId) })
      )
    )
    return answer?.status ?? undefined
  }

  /** Every open issue carrying every one of `labels` (at most MAX_ISSUE_PAGES pages). */
  async openIssuesLabelled(labels: string[]): Promise<Issue[]> {
    const all: Issue[] = []
    await this.findOpenIssue(labels, issue => {
      all.push(issue)
      return false
    })
    return all
  }

  async addReaction(commentId: number, content: Reaction): Promise<void> {
    await this.call(`POST issues/comments/${commentId}/reactions`, o =>
      o.rest.reactions.createForIssueComment({
        ...this.repoArgs,
        comment_id: commentId,
        content,
        ...ONCE
      })
    )
  }

  async getPermission(user: string): Promise<{ permission: string; user: string }> {
    const answer = await this.call(`GET collaborators/${user}/permission`, o =>
      o.rest.repos.getCollaboratorPermissionLevel({ ...this.repoArgs, username: user })
    )
    return { permission: answer.permission, user: answer.user?.login ?? user }
  }

  /** The commenter's repository role; undefined when not a collaborator (404). */
  async collaboratorPermission(
    user: string
  ): Promise<
    { permission: string; roleName?: string; flags?: Partial<Record<string, boolean>> } | undefined
  > {
    const answer = await this.orUndefined(
      this.call(`GET collaborators/${user}/permission`, o =>
        o.rest.repos.getCollaboratorPermissionLevel({ ...this.repoArgs, username: user })
      )
    )
    return (
      answer && {
        permission: answer.permission,
        roleName: answer.role_name,
        flags: answer.user?.permissions
      }
    )
  }

  /** Active member of org/team (a pending invitation does not count). */
  async isTeamMember(org: string, team: string, user: string): Promise<boolean> {
    const answer = await this.orUndefined(
      this.call(`GET orgs/${org}/teams/${team}/memberships/${user}`, o =>
        o.rest.teams.getMembershipForUserInOrg({ org, team_slug: team, username: user })
      )
    )
    return answer?.state === 'active'
  }

  /** The full SHA of a commit of the repository; undefined when there is none. */
  async commitSha(ref: string): Promise<string | undefined> {
    const answer = await this.orUndefined(
      this.call(`GET commits/${ref}`, o => o.rest.repos.getCommit({ ...this.repoArgs, ref }))
    )
    return answer?.sha
  }

  /** 404 (and 422, GitHub's answer to an unknown commit) mean "there is none". */
  private async orUndefined<T>(call: Promise<T>): Promise<T | undefined> {
    try {
      return await call
    } catch (err) {
      if (err instanceof GitHubApiError && (err.status === 404 || err.status === 422))
        return undefined
      throw err
    }
  }

  /** undefined when the variable does not exist. */
  async getVariable(
    name: string
  ): Promise<{ name: string; value: string; updated_at: string } | undefined> {
    try {
      const v = await this.call(`GET actions/variables/${name}`, o =>
        o.rest.actions.getRepoVariable({ ...this.repoArgs, name })
      )
      return { name: v.name, value: v.value, updated_at: v.updated_at }
    } catch (err) {
      if (err instanceof GitHubApiError && err.status === 404) return undefined
      throw err
    }
  }

  async updateVariable(name: string, value: string): Promise<void> {
    await this.call(`PATCH actions/variables/${name}`, o =>
      o.rest.actions.updateRepoVariable({ ...this.repoArgs, name, value })
    )
  }
}

function tooManyIssues(labels: string[]): GitHubApiError {
  return new GitHubApiError(
    `more than ${MAX_ISSUE_PAGES * 100} open issues are labelled ${labels.join(', ') || '(any)'}`,
    'Close the incident issues that are done, or give the runbook a more specific incident-issue label.',
    0
  )
}

interface OctokitError {
  status?: number
  message?: string
  response?: { data?: unknown; headers?: Record<string, string | undefined> }
}

function toApiError(what: string, err: unknown): Error {
  if (err instanceof GitHubApiError) return err
  const e = err as OctokitError
  if (typeof e?.status !== 'number') return err as Error
  if (!e.response) {
    // No answer at all: the request never reached GitHub (network, proxy, timeout).
    return new GitHubApiError(
      `GitHub API ${what} could not be reached (${e.message ?? 'no answer'})`,
      'Check the network from the runner, GITHUB_API_URL, and the proxy variables (HTTPS_PROXY, NO_PROXY).',
      0
    )
  }
  const data = e.response.data as { message?: string } | string | undefined
  const message =
    (typeof data === 'object' ? data?.message : data?.slice(0, 200)) || e.message || 'no message'
  return mapError(what, e.status, message, data, e.response.headers ?? {})
}

/**
 * GitHub's 403 answers for a token without the permission, as documented for each kind of token:
 * "Resource not accessible by integration" (GITHUB_TOKEN, an App), "... by personal access token"
 * (a fine-grained token), "Must have admin rights to Repository." / "Must have push access to
 * ..." (the account's role), SAML single sign-on and OAuth App restrictions of an organization; or
 * the header naming the permissions the endpoint accepts.
 */
const PERMISSION_REFUSAL =
  /resource not accessible by |must have [\w-]+ (access|rights|permission)|saml enforcement|oauth app access restrictions/i

export function isPermissionRefusal(
  status: number,
  message: string,
  headers: Record<string, unknown>
): boolean {
  return (
    status === 403 &&
    (PERMISSION_REFUSAL.test(message) ||
      typeof headers['x-accepted-github-permissions'] === 'string')
  )
}

/** What the token needs for `what`, by endpoint: no job `permissions:` grants the first three. */
function permissionHint(what: string, message: string, headers: Record<string, unknown>): string {
  const accepted = headers['x-accepted-github-permissions']
  const needs = typeof accepted === 'string' && accepted ? ` (GitHub accepts: ${accepted})` : ''
  if (/saml enforcement/i.test(message))
    return 'The organization enforces SAML single sign-on: authorize the token for the organization (token settings, "Configure SSO"), or pass the workflow\'s GITHUB_TOKEN as github-token.'
  if (/oauth app access restrictions/i.test(message))
    return "The organization restricts OAuth App access: have an owner approve the app, or pass the workflow's GITHUB_TOKEN as github-token."
  if (/variables/.test(what))
    return `GITHUB_TOKEN cannot write Actions variables: use a fine-grained token or App with "Variables: write"${needs}.`
  if (/^GET orgs\/[^/]+\/teams\//.test(what))
    return 'GITHUB_TOKEN cannot read team membership: list users in chatops-allow, or pass a github-token (App or fine-grained token) with the organization permission "Members: read".'
  if (/^GET collaborators\//.test(what))
    return "Reading a commenter's role needs a github-token with push access to the repository, such as the workflow's GITHUB_TOKEN."
  if (/personal access token/i.test(message))
    return `github-token is a personal access token without this permission${needs}: pass the workflow's GITHUB_TOKEN as github-token (with \`permissions: { issues: write, pull-requests: write }\`) and a push-only token as push-token, or give the token "Issues" and "Pull requests": read and write.`
  return `Add \`permissions: { issues: write, pull-requests: write }\` to the workflow job${needs}; github-token must be the workflow's GITHUB_TOKEN (or a token with those permissions), not a push-only token.`
}

function isRateLimit(status: number, message: string, headers: Record<string, unknown>): boolean {
  return (
    (status === 403 || status === 429) &&
    (/rate limit/i.test(message) || headers['x-ratelimit-remaining'] === '0')
  )
}

function mapError(
  what: string,
  status: number,
  message: string,
  json: unknown,
  headers: Record<string, unknown>
): GitHubApiError {
  const detail = `${status} ${message}`
  if (status === 401)
    return new GitHubApiError(
      `GitHub rejected the token (${detail})`,
      'Pass a valid token as the github-token input (the workflow GITHUB_TOKEN works for comments and issues).',
      status
    )
  if (isRateLimit(status, message, headers))
    return new GitHubApiError(
      `GitHub rate-limited ${what} longer than this run waits (${detail})`,
      'Retry the step later; a token of its own (an App installation) has a higher limit than GITHUB_TOKEN.',
      status
    )
  if (isPermissionRefusal(status, message, headers))
    return new GitHubApiError(
      `GitHub refused ${what}: the token lacks a permission (${detail})`,
      permissionHint(what, message, headers),
      status
    )
  if (status === 404)
    return new GitHubApiError(
      `GitHub ${what}: not found (${detail})`,
      'Check the repository, issue number or name; a token without access also gets 404.',
      status
    )
  if (status === 422) {
    const errors = (json as { errors?: Array<{ field?: string; code?: string }> } | undefined)
      ?.errors
    const list = errors?.map(e => `${e.field ?? '?'} ${e.code ?? ''}`.trim()).join(', ')
    return new GitHubApiError(
      `GitHub rejected ${what} (${detail}${list ? `: ${list}` : ''})`,
      undefined,
      status
    )
  }
  return new GitHubApiError(`GitHub API ${what} failed (${detail})`, undefined, status)
}
