/**
 * A small fetch-based GitHub REST client: just what notify (and ChatOps) need. Errors become
 * RollbackErrors with the fix (permissions, token); 429/5xx are retried a few times through the
 * injected sleep.
 */
import { RollbackError } from '../util/errors.js'

export interface GitHubClientOptions {
  apiUrl: string
  token: string
  owner: string
  repo: string
  fetch: typeof fetch
  sleep(ms: number): Promise<void>
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

const TRIES = 3

export class GitHubClient {
  private readonly base: string

  constructor(private readonly options: GitHubClientOptions) {
    this.base = options.apiUrl.replace(/\/+$/, '')
  }

  private repoPath(suffix = ''): string {
    const { owner, repo } = this.options
    return `/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}${suffix}`
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const what = `${method} ${path}`
    for (let attempt = 1; ; attempt++) {
      const response = await this.options.fetch(this.base + path, {
        method,
        headers: {
          authorization: `Bearer ${this.options.token}`,
          accept: 'application/vnd.github+json',
          'x-github-api-version': '2022-11-28',
          'user-agent': 'emergency-rollback',
          ...(body !== undefined ? { 'content-type': 'application/json' } : {})
        },
        body: body !== undefined ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(30_000)
      })
      const text = await response.text()
      let json: unknown = undefined
      try {
        json = text ? JSON.parse(text) : undefined
      } catch {
        json = undefined
      }
      if (response.ok) return json as T
      const retryAfter = Number(response.headers.get('retry-after'))
      // A 5xx after a POST may still have created the comment or issue: retrying it could post
      // twice. 429 means the request was not processed, so it is always safe to repeat.
      const retriable = response.status === 429 || (response.status >= 500 && method !== 'POST')
      if (retriable && attempt < TRIES) {
        await this.options.sleep(
          Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter, 60) * 1000 : 5000
        )
        continue
      }
      const message =
        (json as { message?: string } | undefined)?.message ?? (text.slice(0, 200) || 'no message')
      throw mapError(what, response.status, message, json)
    }
  }

  createComment(issueNumber: number, body: string): Promise<Comment> {
    return this.request('POST', this.repoPath(`/issues/${issueNumber}/comments`), { body })
  }

  updateComment(commentId: number, body: string): Promise<Comment> {
    return this.request('PATCH', this.repoPath(`/issues/comments/${commentId}`), { body })
  }

  createIssue(issue: { title: string; body: string; labels?: string[] }): Promise<Issue> {
    return this.request('POST', this.repoPath('/issues'), issue)
  }

  updateIssue(issueNumber: number, fields: { title?: string; body?: string }): Promise<Issue> {
    return this.request('PATCH', this.repoPath(`/issues/${issueNumber}`), fields)
  }

  /**
   * The newest 100 open issues carrying every one of `labels` (pull requests left out): enough
   * to find the incident issue a run opened, which stays among the newest while it is open.
   */
  async openIssuesLabelled(labels: string[]): Promise<Issue[]> {
    const query = new URLSearchParams({ state: 'open', per_page: '100' })
    if (labels.length > 0) query.set('labels', labels.join(','))
    const items = await this.request<(Issue & { pull_request?: unknown })[]>(
      'GET',
      this.repoPath(`/issues?${query}`)
    )
    return items.filter(item => item.pull_request === undefined)
  }

  async addReaction(commentId: number, content: Reaction): Promise<void> {
    await this.request('POST', this.repoPath(`/issues/comments/${commentId}/reactions`), {
      content
    })
  }

  async getPermission(user: string): Promise<{ permission: string; user: string }> {
    const answer = await this.request<{ permission: string; user?: { login?: string } }>(
      'GET',
      this.repoPath(`/collaborators/${encodeURIComponent(user)}/permission`)
    )
    return { permission: answer.permission, user: answer.user?.login ?? user }
  }

  /** undefined when the variable does not exist. */
  async getVariable(name: string): Promise<{ name: string; value: string } | undefined> {
    try {
      return await this.request('GET', this.repoPath(`/actions/variables/${name}`))
    } catch (err) {
      if (err instanceof GitHubApiError && err.status === 404) return undefined
      throw err
    }
  }

  async updateVariable(name: string, value: string): Promise<void> {
    await this.request('PATCH', this.repoPath(`/actions/variables/${name}`), { name, value })
  }
}

function mapError(what: string, status: number, message: string, json: unknown): GitHubApiError {
  const detail = `${status} ${message}`
  if (status === 401)
    return new GitHubApiError(
      `GitHub rejected the token (${detail})`,
      'Pass a valid token as the github-token input (the workflow GITHUB_TOKEN works for comments and issues).',
      status
    )
  if (status === 403 && /not accessible by integration/i.test(message))
    return new GitHubApiError(
      `GitHub refused ${what}: the token lacks a permission (${detail})`,
      /variables/.test(what)
        ? 'GITHUB_TOKEN cannot write Actions variables: use a fine-grained token or App with "Variables: write".'
        : 'Add `permissions: { issues: write, pull-requests: write }` to the workflow job.',
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
