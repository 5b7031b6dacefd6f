/**
 * A local GitHub REST stand-in (node:http on 127.0.0.1:0) for notify and ChatOps: issue
 * comments, issues, reactions, collaborator permission and Actions variables, with GitHub's
 * error shape {message, documentation_url}, its 401/403/404/422 answers, Link-header pagination
 * and (injected) primary and secondary rate limits.
 *
 * Tokens: `token` (default 'ghs_standin_token') behaves like the workflow GITHUB_TOKEN and cannot
 * write Actions variables (403 "Resource not accessible by integration"); `variablesToken`
 * (default 'github_pat_standin') can.
 */
import { startJsonServer, type RecordedRequest, type Reply } from './http.js'

export interface StandinComment {
  id: number
  issueNumber: number
  body: string
  html_url: string
  created_at: string
  updated_at: string
  reactions: string[]
}

export interface StandinIssue {
  number: number
  title: string
  body: string
  labels: string[]
  html_url: string
  state: 'open' | 'closed'
}

export interface GitHubStandinOptions {
  owner?: string
  repo?: string
  token?: string
  variablesToken?: string
  /** Issue/PR numbers that exist (default [1]). */
  issues?: number[]
  /** login -> permission (admin|maintain|write|triage|read|none). */
  collaborators?: Record<string, string>
  /** Real role names where they differ from the old four-level `permission` (maintain, triage, custom). */
  roles?: Record<string, string>
  /** `org/team` -> active members. */
  teams?: Record<string, string[]>
  /** Full SHAs of the repository's commits (the commits API resolves abbreviations among them). */
  commits?: string[]
  variables?: Record<string, string>
  /** Workflow files that can be dispatched (default ['deploy.yml']). */
  workflows?: string[]
  /** Requests a workflow run spends queued and in progress (default 1, 2). */
  runTicks?: { queued?: number; inProgress?: number }
}

export interface RateLimitOptions {
  /** secondary (default): message and `retry-after`; primary: `x-ratelimit-remaining: 0`. */
  kind?: 'secondary' | 'primary'
  /** 403 (default) or 429: GitHub answers either. */
  status?: 403 | 429
  /** Seconds, sent as `retry-after` (secondary); none when undefined. */
  retryAfter?: number
  /** Seconds until `x-ratelimit-reset` (primary; default 1). */
  resetInSeconds?: number
  method?: string
  times?: number
}

export interface StandinRun {
  id: number
  workflow: string
  head_branch: string
  event: string
  status: 'queued' | 'in_progress' | 'completed'
  conclusion: null | 'success' | 'failure' | 'cancelled'
  created_at: string
  run_started_at?: string
  html_url: string
  /** Actions variables as the run read them when it started (what the deploy built in). */
  variables: Record<string, string>
  outcome: 'success' | 'failure' | 'cancelled'
  ticks: number
}

export interface GitHubStandin {
  url: string
  serverUrl: string
  owner: string
  repo: string
  token: string
  variablesToken: string
  requests: RecordedRequest[]
  requestsTo(path: string | RegExp, method?: string): RecordedRequest[]
  comments: StandinComment[]
  issues: StandinIssue[]
  variables: Map<string, { value: string; updated_at: string }>
  runs: StandinRun[]
  /** How the next dispatched run ends. */
  nextRunOutcome(outcome: 'success' | 'failure' | 'cancelled'): void
  /** The newest successful run of `workflow`: what production serves. */
  liveRun(workflow?: string): StandinRun | undefined
  /** The next `times` matching calls answer 403 "Resource not accessible by integration". */
  forbid(path: string | RegExp, opts?: { method?: string; times?: number }): void
  /** The next `times` matching calls answer `status` with `message`. */
  failNext(
    path: string | RegExp,
    opts: { status: number; message?: string; method?: string; times?: number }
  ): void
  /** The next `times` matching calls are over a rate limit. */
  rateLimit(path: string | RegExp, opts?: RateLimitOptions): void
  close(): Promise<void>
}

const DOCS = 'https://docs.github.com/rest'
const gh = (status: number, message: string, extra: object = {}): Reply => ({
  status,
  body: { message, documentation_url: DOCS, status: String(status), ...extra }
})
const validation = (resource: string, field: string, code = 'missing_field'): Reply =>
  gh(422, 'Validation Failed', { errors: [{ resource, code, field }] })

/**
 * GitHub's Link header for page `page` of `last`: next/last (and prev/first after page 1), each
 * the request's own URL with another `page`.
 */
function pageLinks(req: RecordedRequest, page: number, last: number): Record<string, string> {
  const link = (n: number, rel: string) => {
    const url = new URL(req.path, `http://${String(req.headers.host)}`)
    for (const [k, v] of Object.entries(req.query)) url.searchParams.set(k, v)
    url.searchParams.set('page', String(n))
    return `<${url.href}>; rel="${rel}"`
  }
  const rels = [
    ...(page < last ? [link(page + 1, 'next'), link(last, 'last')] : []),
    ...(page > 1 ? [link(page - 1, 'prev'), link(1, 'first')] : [])
  ]
  return rels.length ? { link: rels.join(', ') } : {}
}

/** GitHub's answer to a request over a rate limit (REST docs, "Rate limits for the REST API"). */
function rateLimited(opts: RateLimitOptions): Reply {
  const status = opts.status ?? 403
  if (opts.kind === 'primary') {
    const reset = Math.ceil(Date.now() / 1000) + (opts.resetInSeconds ?? 1)
    return {
      ...gh(status, 'API rate limit exceeded for installation ID 1.'),
      headers: {
        'x-ratelimit-limit': '1000',
        'x-ratelimit-remaining': '0',
        'x-ratelimit-used': '1000',
        'x-ratelimit-reset': String(reset),
        'x-ratelimit-resource': 'core'
      }
    }
  }
  return {
    ...gh(
      status,
      'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.'
    ),
    headers: opts.retryAfter === undefined ? {} : { 'retry-after': String(opts.retryAfter) }
  }
}

const rest0 = (p: string[]) => p[3]

/** Base roles, lowest first: a role has its own flag and every one before it. */
const BASE_ROLES = ['none', 'read', 'triage', 'write', 'maintain', 'admin']

const REACTIONS = ['+1', '-1', 'laugh', 'confused', 'heart', 'hooray', 'rocket', 'eyes']

export async function startGitHubStandin(
  options: GitHubStandinOptions = {}
): Promise<GitHubStandin> {
  const owner = options.owner ?? 'acme'
  const repo = options.repo ?? 'outline-app'
  const token = options.token ?? 'ghs_standin_token'
  const variablesToken = options.variablesToken ?? 'github_pat_standin'
  const serverUrl = 'https://github.example'
  const requests: RecordedRequest[] = []
  const comments: StandinComment[] = []
  const issues: StandinIssue[] = (options.issues ?? [1]).map(n => ({
    number: n,
    title: `Issue ${n}`,
    body: '',
    labels: [],
    html_url: `${serverUrl}/${owner}/${repo}/issues/${n}`,
    state: 'open'
  }))
  const collaborators = options.collaborators ?? { 'octo-admin': 'admin', 'octo-reader': 'read' }
  const variables = new Map(
    Object.entries(options.variables ?? {}).map(([k, v]) => [
      k,
      { value: v, updated_at: new Date().toISOString() }
    ])
  )
  const injections: Array<{
    method?: string
    path: string | RegExp
    remaining: number
    reply: Reply
  }> = []
  let nextComment = 1000
  const iso = () => new Date().toISOString()
  // GitHub timestamps have second resolution.
  const isoSeconds = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')
  const workflows = options.workflows ?? ['deploy.yml']
  const runTicks = { queued: 1, inProgress: 2, ...options.runTicks }
  const runs: StandinRun[] = []
  let nextRun = 9000
  let nextOutcome: StandinRun['outcome'] = 'success'
  const snapshotVars = () => Object.fromEntries([...variables].map(([k, v]) => [k, v.value]))
  const newRun = (workflow: string, ref: string, event: string): StandinRun => {
    const id = ++nextRun
    const run: StandinRun = {
      id,
      workflow,
      head_branch: ref,
      event,
      status: 'queued',
      conclusion: null,
      created_at: isoSeconds(),
      html_url: `${serverUrl}/${owner}/${repo}/actions/runs/${id}`,
      variables: {},
      outcome: nextOutcome,
      ticks: 0
    }
    nextOutcome = 'success'
    runs.push(run)
    return run
  }
  const stepRun = (r: StandinRun) => {
    if (r.status === 'completed') return
    r.ticks++
    if (r.status === 'queued' && r.ticks >= runTicks.queued) {
      r.status = 'in_progress'
      r.run_started_at = isoSeconds()
      r.variables = snapshotVars()
      r.ticks = 0
    } else if (r.status === 'in_progress' && r.ticks >= runTicks.inProgress) {
      r.status = 'completed'
      r.conclusion = r.outcome
    }
  }
  const liveRun = (workflow = workflows[0]) =>
    [...runs].reverse().find(r => r.workflow === workflow && r.conclusion === 'success')
  const runJson = (r: StandinRun) => ({
    id: r.id,
    name: r.workflow,
    path: `.github/workflows/${r.workflow}`,
    head_branch: r.head_branch,
    event: r.event,
    status: r.status,
    conclusion: r.conclusion,
    created_at: r.created_at,
    updated_at: r.created_at,
    run_started_at: r.run_started_at ?? r.created_at,
    html_url: r.html_url
  })
  const commentJson = (c: StandinComment) => ({
    id: c.id,
    node_id: `IC_${c.id}`,
    body: c.body,
    html_url: c.html_url,
    user: { login: 'github-actions[bot]', type: 'Bot' },
    created_at: c.created_at,
    updated_at: c.updated_at
  })
  const issueJson = (i: StandinIssue) => ({
    id: 5000 + i.number,
    number: i.number,
    title: i.title,
    body: i.body,
    state: i.state,
    labels: i.labels.map(name => ({ name })),
    html_url: i.html_url
  })

  const tooLong = (resource: string, text: unknown): Reply | undefined =>
    typeof text === 'string' && text.length > 65536
      ? gh(422, 'Validation Failed', {
          errors: [
            {
              resource,
              code: 'custom',
              field: 'body',
              message: 'body is too long (maximum is 65536 characters)'
            }
          ]
        })
      : undefined

  const route = (req: RecordedRequest, canWriteVariables: boolean): Reply => {
    const p = req.path.split('/').filter(Boolean).map(decodeURIComponent)
    const m = req.method
    const body = (req.body ?? {}) as Record<string, unknown>
    if (
      p[0] === 'orgs' &&
      p[2] === 'teams' &&
      p[4] === 'memberships' &&
      p.length === 6 &&
      m === 'GET'
    ) {
      const members = options.teams?.[`${p[1]}/${p[3]}`]
      if (!members?.includes(p[5]!)) return gh(404, 'Not Found')
      return { status: 200, body: { state: 'active', role: 'member' } }
    }
    if (p[0] !== 'repos' || p[1] !== owner || p[2] !== repo) return gh(404, 'Not Found')
    if (rest0(p) === 'commits' && p.length === 5 && m === 'GET') {
      const ref = p[4]!.toLowerCase()
      const found = (options.commits ?? []).filter(sha => sha.startsWith(ref))
      if (found.length !== 1) return gh(422, `No commit found for SHA: ${p[4]}`)
      return { status: 200, body: { sha: found[0], commit: { message: 'commit' } } }
    }
    const rest = p.slice(3)
    if (rest.length === 0 && m === 'GET')
      return {
        status: 200,
        body: {
          id: 1,
          name: repo,
          full_name: `${owner}/${repo}`,
          html_url: `${serverUrl}/${owner}/${repo}`
        }
      }
    if (rest[0] === 'issues') {
      // List repository issues: open by default, every label in `labels`, newest first, paged.
      if (rest.length === 1 && m === 'GET') {
        const q = req.query
        const state = q.state ?? 'open'
        const wanted = q.labels ? q.labels.split(',').filter(Boolean) : []
        const perPage = Math.min(Number(q.per_page ?? 30), 100)
        const page = Number(q.page ?? 1)
        const matching = issues
          .filter(i => state === 'all' || i.state === state)
          .filter(i => wanted.every(l => i.labels.includes(l)))
          .sort((a, b) => b.number - a.number)
        const list = matching.slice((page - 1) * perPage, page * perPage)
        const last = Math.max(1, Math.ceil(matching.length / perPage))
        return { status: 200, body: list.map(issueJson), headers: pageLinks(req, page, last) }
      }
      if (rest.length === 1 && m === 'POST') {
        if (typeof body.title !== 'string' || !body.title) return validation('Issue', 'title')
        const long = tooLong('Issue', body.body)
        if (long) return long
        const number = Math.max(0, ...issues.map(i => i.number)) + 1
        const issue: StandinIssue = {
          number,
          title: body.title,
          body: typeof body.body === 'string' ? body.body : '',
          labels: Array.isArray(body.labels) ? body.labels.map(String) : [],
          html_url: `${serverUrl}/${owner}/${repo}/issues/${number}`,
          state: 'open'
        }
        issues.push(issue)
        return { status: 201, body: issueJson(issue) }
      }
      if (rest[1] === 'comments' && rest.length >= 3) {
        const c = comments.find(x => x.id === Number(rest[2]))
        if (!c) return gh(404, 'Not Found')
        if (rest.length === 3 && m === 'GET') return { status: 200, body: commentJson(c) }
        if (rest.length === 3 && m === 'PATCH') {
          if (typeof body.body !== 'string') return validation('IssueComment', 'body')
          const long = tooLong('IssueComment', body.body)
          if (long) return long
          c.body = body.body
          c.updated_at = iso()
          return { status: 200, body: commentJson(c) }
        }
        if (rest.length === 4 && rest[3] === 'reactions' && m === 'POST') {
          if (typeof body.content !== 'string' || !REACTIONS.includes(body.content))
            return validation('Reaction', 'content', 'invalid')
          const existed = c.reactions.includes(body.content)
          if (!existed) c.reactions.push(body.content)
          return {
            status: existed ? 200 : 201,
            body: { id: 1, content: body.content, user: { login: 'github-actions[bot]' } }
          }
        }
      }
      if (rest.length >= 2 && /^\d+$/.test(rest[1]!)) {
        const issue = issues.find(i => i.number === Number(rest[1]))
        if (!issue) return gh(404, 'Not Found')
        if (rest.length === 2 && m === 'GET') return { status: 200, body: issueJson(issue) }
        if (rest.length === 2 && m === 'PATCH') {
          if (body.title !== undefined && (typeof body.title !== 'string' || !body.title))
            return validation('Issue', 'title')
          const long = tooLong('Issue', body.body)
          if (long) return long
          if (body.state !== undefined && body.state !== 'open' && body.state !== 'closed')
            return validation('Issue', 'state', 'invalid')
          if (typeof body.title === 'string') issue.title = body.title
          if (typeof body.body === 'string') issue.body = body.body
          if (body.state === 'open' || body.state === 'closed') issue.state = body.state
          return { status: 200, body: issueJson(issue) }
        }
        if (rest.length === 3 && rest[2] === 'comments' && m === 'POST') {
          if (typeof body.body !== 'string' || !body.body) return validation('IssueComment', 'body')
          const long = tooLong('IssueComment', body.body)
          if (long) return long
          const id = ++nextComment
          const c: StandinComment = {
            id,
            issueNumber: issue.number,
            body: body.body,
            html_url: `${issue.html_url}#issuecomment-${id}`,
            created_at: iso(),
            updated_at: iso(),
            reactions: []
          }
          comments.push(c)
          return { status: 201, body: commentJson(c) }
        }
      }
    }
    if (
      rest[0] === 'collaborators' &&
      rest[2] === 'permission' &&
      rest.length === 3 &&
      m === 'GET'
    ) {
      const login = rest[1]!
      const permission = collaborators[login]
      if (permission === undefined) return gh(404, 'Not Found')
      // GitHub keeps `permission` to the old four levels; `role_name` holds the real role (a
      // custom role's name), and the user's `permissions` hash the base role's five flags.
      const legacy: Record<string, string> = { maintain: 'write', triage: 'read' }
      const roleName = options.roles?.[login] ?? permission
      const rank = BASE_ROLES.indexOf(permission)
      const permissions = Object.fromEntries(
        (['pull', 'triage', 'push', 'maintain', 'admin'] as const).map((flag, i) => [
          flag,
          i < rank
        ])
      )
      return {
        status: 200,
        body: {
          permission: legacy[permission] ?? permission,
          role_name: roleName,
          user: { login, type: 'User', permissions, role_name: roleName }
        }
      }
    }
    if (rest[0] === 'actions' && rest[1] === 'workflows' && rest[2] !== undefined) {
      const workflow = rest[2]
      if (!workflows.includes(workflow)) return gh(404, 'Not Found')
      if (rest.length === 4 && rest[3] === 'dispatches' && m === 'POST') {
        if (typeof body.ref !== 'string' || !body.ref) return validation('WorkflowDispatch', 'ref')
        newRun(workflow, body.ref, 'workflow_dispatch')
        return { status: 204 }
      }
      if (rest.length === 4 && rest[3] === 'runs' && m === 'GET') {
        const q = req.query
        const list = runs
          .filter(r => r.workflow === workflow)
          .filter(r => (q.branch ? r.head_branch === q.branch : true))
          .filter(r => (q.event ? r.event === q.event : true))
          .filter(r =>
            !q.status
              ? true
              : ['queued', 'in_progress', 'completed'].includes(q.status)
                ? r.status === q.status
                : r.conclusion === q.status
          )
          .filter(r => (q.created?.startsWith('>=') ? r.created_at >= q.created.slice(2) : true))
          .reverse()
          .slice(0, Number(q.per_page ?? 30))
        return { status: 200, body: { total_count: list.length, workflow_runs: list.map(runJson) } }
      }
    }
    if (rest[0] === 'actions' && rest[1] === 'runs' && rest.length === 3 && m === 'GET') {
      const r = runs.find(x => x.id === Number(rest[2]))
      return r ? { status: 200, body: runJson(r) } : gh(404, 'Not Found')
    }
    if (rest[0] === 'actions' && rest[1] === 'variables') {
      const write = m !== 'GET'
      if (write && !canWriteVariables) return gh(403, 'Resource not accessible by integration')
      if (rest.length === 2 && m === 'GET')
        return {
          status: 200,
          body: {
            total_count: variables.size,
            variables: [...variables].map(([name, v]) => ({ name, ...v }))
          }
        }
      if (rest.length === 2 && m === 'POST') {
        if (typeof body.name !== 'string') return validation('ActionsVariable', 'name')
        if (typeof body.value !== 'string') return validation('ActionsVariable', 'value')
        if (variables.has(body.name)) return gh(409, 'Already exists - Variable already exists')
        variables.set(body.name, { value: body.value, updated_at: isoSeconds() })
        return { status: 201, body: {} }
      }
      const name = rest[2]
      if (rest.length === 3 && name) {
        const v = variables.get(name)
        if (!v) return gh(404, 'Not Found')
        if (m === 'GET')
          return { status: 200, body: { name, value: v.value, updated_at: v.updated_at } }
        if (m === 'PATCH') {
          if (body.value !== undefined && typeof body.value !== 'string')
            return validation('ActionsVariable', 'value', 'invalid')
          if (typeof body.value === 'string') v.value = body.value
          v.updated_at = isoSeconds()
          return { status: 204 }
        }
        if (m === 'DELETE') {
          variables.delete(name)
          return { status: 204 }
        }
      }
    }
    return gh(404, 'Not Found')
  }

  /** The deployed app: what the newest successful deploy run built in. */
  const app = (req: RecordedRequest): Reply => {
    const live = liveRun()
    if (!live) return { status: 404, text: 'not deployed' }
    const sub = req.path.slice('/app'.length)
    if (sub === '/api/health') return { status: 200, body: { status: 'ok', run: live.id } }
    if (sub === '/admin/o3-deep-research-diagnostics') {
      const mode =
        live.variables.NEXT_PUBLIC_USE_STREAMING === 'true' ? 'streaming mode' : 'polling mode'
      return {
        status: 200,
        text: `<html><body><p>Outline generation: <b>${mode}</b></p></body></html>`
      }
    }
    return { status: 404, text: 'not found' }
  }

  for (const workflow of workflows.slice(0, 1)) {
    const initial = newRun(workflow, 'main', 'push')
    initial.status = 'completed'
    initial.conclusion = 'success'
    initial.run_started_at = initial.created_at
    initial.variables = snapshotVars()
  }

  const handle = (req: RecordedRequest): Reply => {
    for (const r of runs) stepRun(r)
    if (req.path.startsWith('/app/')) return app(req)
    const auth = req.authorization
    if (!auth) return gh(401, 'Requires authentication')
    const presented = auth.replace(/^(Bearer|token)\s+/i, '')
    if (presented !== token && presented !== variablesToken) return gh(401, 'Bad credentials')
    const injection = injections.find(
      i =>
        i.remaining > 0 &&
        (!i.method || i.method === req.method) &&
        (typeof i.path === 'string' ? i.path === req.path : i.path.test(req.path))
    )
    if (injection) {
      injection.remaining--
      return injection.reply
    }
    return route(req, presented === variablesToken)
  }

  const server = await startJsonServer(req => {
    requests.push(req)
    const reply = handle(req)
    req.status = reply.status
    return reply
  })

  return {
    url: server.url,
    serverUrl,
    owner,
    repo,
    token,
    variablesToken,
    requests,
    requestsTo: (path, method) =>
      requests.filter(
        r =>
          (!method || r.method === method) &&
          (typeof path === 'string' ? r.path === path : path.test(r.path))
      ),
    comments,
    issues,
    variables,
    runs,
    nextRunOutcome(outcome) {
      nextOutcome = outcome
    },
    liveRun,
    forbid(path, opts = {}) {
      injections.push({
        method: opts.method,
        path,
        remaining: opts.times ?? 1,
        reply: gh(403, 'Resource not accessible by integration')
      })
    },
    failNext(path, opts) {
      injections.push({
        method: opts.method,
        path,
        remaining: opts.times ?? 1,
        reply: gh(opts.status, opts.message ?? 'Server Error')
      })
    },
    rateLimit(path, opts = {}) {
      injections.push({
        method: opts.method,
        path,
        remaining: opts.times ?? 1,
        reply: rateLimited(opts)
      })
    },
    close: server.close
  }
}
