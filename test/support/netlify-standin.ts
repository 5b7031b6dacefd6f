/**
 * A local Netlify API stand-in (node:http on 127.0.0.1:0), checked against the OpenAPI document
 * of `@netlify/open-api` and /work/shared/reference/hosting-apis.md: base path /api/v1, Bearer
 * auth, errors `{code, message}` with 401/403/404/422, `X-RateLimit-Limit/-Remaining/-Reset` on
 * every answer and 429 once a token's window is used up, account environment variables with one
 * value per deploy context, builds whose deploys go new -> enqueued -> building -> processing ->
 * ready (or error), a paged deploy list with a `Link` header, restore, rollback and lock/unlock.
 *
 * Time is counted in ticks: every API request advances every unfinished deploy by one tick
 * (advance() does it by hand), so tests with an instant sleep stay deterministic.
 */
import { startJsonServer, takeHang, type Hang, type RecordedRequest, type Reply } from './http.js'

export const NETLIFY_CONTEXTS = [
  'all',
  'dev',
  'dev-server',
  'branch-deploy',
  'deploy-preview',
  'production',
  'branch'
] as const
export type NetlifyContext = (typeof NETLIFY_CONTEXTS)[number]
const SCOPES = ['builds', 'functions', 'runtime', 'post-processing']

export interface StandinValue {
  id: string
  value: string
  context: NetlifyContext
  context_parameter?: string
}

export interface StandinEnvVar {
  key: string
  scopes: string[]
  values: StandinValue[]
  is_secret: boolean
  updatedAt: number
}

export type DeployState =
  'new' | 'enqueued' | 'building' | 'uploading' | 'processing' | 'ready' | 'error'

export interface StandinDeploy {
  id: string
  build_id: string
  state: DeployState
  context: 'production' | 'deploy-preview' | 'branch-deploy'
  branch: string
  title?: string
  createdAt: number
  updatedAt: number
  publishedAt?: number
  error_message?: string
  /** The git commit it was built from. */
  commitRef?: string
  clearCache: boolean
  /** Values of the production context baked into this build (snapshotted when it started). */
  env: Record<string, string>
  outcome: 'ready' | 'error'
  ticks: number
}

export interface NetlifyStandinOptions {
  /** The one valid token (default 'netlify-test-token'). */
  token?: string
  /** A second valid token that may only read (writes answer 403). */
  readOnlyToken?: string
  site?: { id?: string; name?: string; accountId?: string; accountSlug?: string }
  env?: Array<{
    key: string
    values: Array<{ context: NetlifyContext; value: string }>
    is_secret?: boolean
  }>
  /** Create a ready, published production deploy built from the initial env (default true). */
  initialDeploy?: boolean
  /** Earlier ready production deploys to create before it (oldest first), e.g. for paging. */
  history?: number
  /**
   * The git commit each initial deploy (the history's, then the published one's) was built from,
   * oldest first; Netlify reports it as `commit_ref`.
   */
  commits?: Array<string | undefined>
  /** The branch's latest commit: what a new build builds (default: the last of `commits`). */
  head?: string
  /** Every initial deploy is this much older than the next, in ms (default: created just now). */
  spacingMs?: number
  /** Requests per token and window (default 500 per 60 s, Netlify's documented budget). */
  rateLimit?: { limit?: number; windowMs?: number }
}

export interface NetlifyStandin {
  url: string
  /** The API base the client is configured with (url + /api/v1). */
  apiUrl: string
  token: string
  site: { id: string; name: string; accountId: string; accountSlug: string }
  envVars: StandinEnvVar[]
  deploys: StandinDeploy[]
  requests: RecordedRequest[]
  /** Every request that was not a GET (what changed, or was attempted). */
  writes(): RecordedRequest[]
  requestsTo(path: string | RegExp, method?: string): RecordedRequest[]
  /** Uses up the token's window: the next requests answer 429 until `resetInSeconds` passed. */
  exhaustRateLimit(resetInSeconds?: number): void
  /**
   * The next `times` calls to `path` answer `status` with a Netlify error body; a 429 says in
   * its rate-limit headers that the window resets in `resetIn` seconds (default 2).
   */
  failNext(
    path: string | RegExp,
    opts?: { times?: number; status?: number; method?: string; resetIn?: number }
  ): void
  /** The next `times` calls to `path` are received and never answered (a hung connection). */
  hangNext(path: string | RegExp, opts?: { times?: number; method?: string }): void
  /** Drops every pending injected failure. */
  clearFaults(): void
  nextDeployOutcome(outcome: 'ready' | 'error'): void
  /** The value the named context resolves to (a context value, else `all`). */
  valueFor(key: string, context: NetlifyContext): string | undefined
  published(): StandinDeploy | undefined
  /** Stops auto publishing (as "Lock deploy" in the UI): new production deploys stay unpublished. */
  lockPublishing(): void
  autoPublishing(): boolean
  /** A push to the production branch: its head is `commit` now and a production build starts. */
  push(commit: string): StandinDeploy
  advance(ticks?: number): void
  close(): Promise<void>
}

const error = (status: number, message: string): Reply => ({
  status,
  body: { code: status, message }
})

interface Injection {
  path: string | RegExp
  method?: string
  remaining: number
  status: number
  resetIn: number
}

export async function startNetlifyStandin(
  options: NetlifyStandinOptions = {}
): Promise<NetlifyStandin> {
  const token = options.token ?? 'netlify-test-token'
  const site = {
    id: options.site?.id ?? 'b3a1c2d4-0000-4000-8000-5173outline',
    name: options.site?.name ?? 'outline-app',
    accountId: options.site?.accountId ?? '5f0c0ffee0000000000acc01',
    accountSlug: options.site?.accountSlug ?? 'outline-team'
  }
  const limit = options.rateLimit?.limit ?? 500
  const windowMs = options.rateLimit?.windowMs ?? 60_000
  const requests: RecordedRequest[] = []
  const envVars: StandinEnvVar[] = []
  const deploys: StandinDeploy[] = []
  const injections: Injection[] = []
  const windows = new Map<string, { used: number; resetAt: number }>()
  let publishedId: string | undefined
  let autoPublish = true
  let nextOutcome: 'ready' | 'error' = 'ready'
  let counter = 0
  let lastNow = 0
  // Strictly increasing clock: "built after the variable changed" must be decidable in a fast test.
  const now = () => (lastNow = Math.max(Date.now(), lastNow + 1))
  const hex = (n: number) => n.toString(16).padStart(24, '0')
  const newId = () => hex(0x5e0000 + ++counter)
  const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString())

  for (const e of options.env ?? [])
    envVars.push({
      key: e.key,
      scopes: [...SCOPES],
      values: e.values.map(v => ({ id: newId(), ...v })),
      is_secret: e.is_secret ?? false,
      updatedAt: now()
    })

  const valueFor = (key: string, context: NetlifyContext): string | undefined => {
    const v = envVars.find(e => e.key === key)
    if (!v) return undefined
    return (v.values.find(x => x.context === context) ?? v.values.find(x => x.context === 'all'))
      ?.value
  }
  const snapshot = (context: NetlifyContext) =>
    Object.fromEntries(
      envVars.flatMap(e => {
        const value = valueFor(e.key, context)
        return value === undefined ? [] : [[e.key, value]]
      })
    )

  const createDeploy = (title?: string, clearCache = false): StandinDeploy => {
    const t = now()
    const d: StandinDeploy = {
      id: newId(),
      build_id: newId(),
      state: 'new',
      context: 'production',
      branch: 'main',
      title,
      createdAt: t,
      updatedAt: t,
      clearCache,
      env: {},
      outcome: nextOutcome,
      ticks: 0
    }
    nextOutcome = 'ready'
    deploys.push(d)
    return d
  }
  const initial = (options.history ?? 0) + (options.initialDeploy === false ? 0 : 1)
  let head = options.head ?? options.commits?.[initial - 1]

  const ORDER: DeployState[] = ['new', 'enqueued', 'building', 'uploading', 'processing', 'ready']
  const step = (d: StandinDeploy) => {
    if (d.state === 'ready' || d.state === 'error') return
    const next = ORDER[ORDER.indexOf(d.state) + 1]!
    if (next === 'building') d.env = snapshot('production')
    if (next === 'ready' && d.outcome === 'error') {
      d.state = 'error'
      d.error_message = 'Build script returned non-zero exit code: 2'
    } else d.state = next
    d.updatedAt = now()
    if (d.state === 'ready' && d.context === 'production' && autoPublish) {
      publishedId = d.id
      d.publishedAt = now()
    }
  }
  const advance = (n = 1) => {
    for (let i = 0; i < n; i++) for (const d of deploys) step(d)
  }

  for (let i = 0; i < initial; i++) {
    const d = createDeploy(`deploy ${i + 1}`)
    d.commitRef = options.commits?.[i]
    if (options.spacingMs)
      d.createdAt = d.updatedAt = d.createdAt - (initial - i) * options.spacingMs
    d.state = 'ready'
    d.env = snapshot('production')
    d.publishedAt = now()
    publishedId = d.id
  }

  const envJson = (e: StandinEnvVar) => ({
    key: e.key,
    scopes: e.scopes,
    // Secret values are readable only in the dev context.
    values: e.values.map(v =>
      e.is_secret && v.context !== 'dev' ? { id: v.id, context: v.context } : { ...v }
    ),
    is_secret: e.is_secret,
    updated_at: iso(e.updatedAt),
    updated_by: { id: 'user1', full_name: 'Stand In', email: 'standin@example.com' }
  })

  const host = (d: StandinDeploy) => `${d.id}--${site.name}.netlify.app`
  const deployJson = (d: StandinDeploy) => ({
    id: d.id,
    site_id: site.id,
    build_id: d.build_id,
    state: d.state,
    name: site.name,
    url: `http://${site.name}.netlify.app`,
    ssl_url: `https://${site.name}.netlify.app`,
    admin_url: `https://app.netlify.com/sites/${site.name}`,
    deploy_url: `http://${host(d)}`,
    deploy_ssl_url: `https://${host(d)}`,
    error_message: d.error_message ?? null,
    branch: d.branch,
    context: d.context,
    title: d.title ?? null,
    commit_ref: d.commitRef ?? null,
    locked: d.id === publishedId ? !autoPublish : null,
    skipped: null,
    created_at: iso(d.createdAt),
    updated_at: iso(d.updatedAt),
    published_at: iso(d.publishedAt)
  })

  const published = () => deploys.find(d => d.id === publishedId)
  const siteJson = () => {
    const p = published()
    return {
      id: site.id,
      name: site.name,
      state: 'current',
      url: `http://${site.name}.netlify.app`,
      ssl_url: `https://${site.name}.netlify.app`,
      admin_url: `https://app.netlify.com/sites/${site.name}`,
      account_id: site.accountId,
      account_slug: site.accountSlug,
      account_name: 'Outline Team',
      published_deploy: p ? deployJson(p) : null,
      build_settings: { repo_branch: 'main', provider: 'github' }
    }
  }

  const validValue = (v: unknown): v is { context: NetlifyContext; value?: unknown } =>
    typeof v === 'object' &&
    v !== null &&
    NETLIFY_CONTEXTS.includes((v as { context: NetlifyContext }).context)

  /** Values as sent by the client, or the 422 reply that refuses them. */
  const parseValues = (raw: unknown): StandinValue[] | Reply => {
    if (!Array.isArray(raw) || !raw.every(validValue))
      return error(422, 'values must be a list of {context, value} with a known context')
    const values = raw.map(v => ({
      id: newId(),
      context: v.context,
      value: typeof v.value === 'string' ? v.value : ''
    }))
    const contexts = values.map(v => v.context)
    if (new Set(contexts).size !== contexts.length)
      return error(422, 'a context can have only one value')
    if (contexts.includes('all') && contexts.length > 1)
      return error(422, 'a value for all contexts cannot be combined with per-context values')
    return values
  }

  const accountError = (account: string): Reply | undefined =>
    account === site.accountId || account === site.accountSlug
      ? undefined
      : error(403, 'You do not have access to this account')

  const envRoute = (req: RecordedRequest, account: string, key?: string): Reply => {
    const denied = accountError(account)
    if (denied) return denied
    if (req.query.site_id !== undefined && req.query.site_id !== site.id)
      return error(404, 'Not Found')
    const m = req.method
    if (key === undefined) {
      if (m === 'GET') return { status: 200, body: envVars.map(envJson) }
      if (m !== 'POST') return error(405, 'Method Not Allowed')
      if (!Array.isArray(req.body))
        return error(422, 'body must be a list of environment variables')
      const created: StandinEnvVar[] = []
      for (const raw of req.body as Array<Record<string, unknown>>) {
        if (typeof raw?.key !== 'string' || raw.key === '') return error(422, 'key is required')
        if (envVars.some(e => e.key === raw.key) || created.some(e => e.key === raw.key))
          return error(422, `Environment variable ${raw.key} already exists`)
        const values = parseValues(raw.values)
        if (!Array.isArray(values)) return values
        created.push({
          key: raw.key,
          scopes: Array.isArray(raw.scopes) ? (raw.scopes as string[]) : [...SCOPES],
          values,
          is_secret: raw.is_secret === true,
          updatedAt: now()
        })
      }
      envVars.push(...created)
      return { status: 201, body: created.map(envJson) }
    }
    const existing = envVars.find(e => e.key === key)
    if (!existing) return error(404, 'Environment variable not found')
    if (m === 'GET') return { status: 200, body: envJson(existing) }
    if (m === 'DELETE') {
      envVars.splice(envVars.indexOf(existing), 1)
      return { status: 204 }
    }
    const body = (req.body ?? {}) as Record<string, unknown>
    if (m === 'PUT') {
      const values = parseValues(body.values)
      if (!Array.isArray(values)) return values
      existing.values = values
      if (Array.isArray(body.scopes)) existing.scopes = body.scopes as string[]
      if (typeof body.is_secret === 'boolean') existing.is_secret = body.is_secret
      if (typeof body.key === 'string' && body.key !== '') existing.key = body.key
      existing.updatedAt = now()
      return { status: 200, body: envJson(existing) }
    }
    if (m === 'PATCH') {
      if (!validValue(body) || typeof body.value !== 'string')
        return error(422, 'context and value are required')
      const context = body.context
      // Which per-context values a PATCH leaves when the variable has one value for all
      // contexts is not documented: the stand-in refuses, so a client never depends on it.
      if (context !== 'all' && existing.values.some(v => v.context === 'all'))
        return error(422, `${key} has one value for all contexts; replace its values with PUT`)
      if (context === 'all' && existing.values.some(v => v.context !== 'all'))
        return error(422, `${key} has per-context values; replace its values with PUT`)
      const current = existing.values.find(v => v.context === context)
      if (current) current.value = body.value
      else existing.values.push({ id: newId(), context, value: body.value })
      existing.updatedAt = now()
      return { status: 201, body: envJson(existing) }
    }
    return error(405, 'Method Not Allowed')
  }

  const PER_PAGE_MAX = 100
  const listDeploys = (req: RecordedRequest): Reply => {
    const q = req.query
    const page = Math.max(1, Number(q.page ?? 1) || 1)
    const perPage = Math.min(PER_PAGE_MAX, Math.max(1, Number(q.per_page ?? PER_PAGE_MAX) || 1))
    const list = deploys
      .filter(d => (q.production === 'true' ? d.context === 'production' : true))
      .filter(d => (q.state ? d.state === q.state : true))
      .filter(d => (q.branch ? d.branch === q.branch : true))
      .sort((a, b) => b.createdAt - a.createdAt)
    const last = Math.max(1, Math.ceil(list.length / perPage))
    const link = (p: number, rel: string) => {
      const u = new URL(`http://127.0.0.1${req.path}`)
      for (const [k, v] of Object.entries(q)) u.searchParams.set(k, v)
      u.searchParams.set('page', String(p))
      u.searchParams.set('per_page', String(perPage))
      return `<${base}${u.pathname}${u.search}>; rel="${rel}"`
    }
    const links = [
      ...(page < last ? [link(page + 1, 'next')] : []),
      ...(page > 1 ? [link(page - 1, 'prev')] : []),
      link(last, 'last'),
      link(1, 'first')
    ]
    return {
      status: 200,
      headers: { link: links.join(', ') },
      body: list.slice((page - 1) * perPage, page * perPage).map(deployJson)
    }
  }

  const publish = (d: StandinDeploy) => {
    publishedId = d.id
    d.publishedAt = now()
  }

  const siteRoute = (req: RecordedRequest, p: string[]): Reply => {
    if (p[1] !== site.id && p[1] !== `${site.name}.netlify.app`) return error(404, 'Not Found')
    const m = req.method
    if (p.length === 2 && m === 'GET') return { status: 200, body: siteJson() }
    if (p.length === 3 && p[2] === 'builds' && m === 'POST') {
      if (req.query.branch !== undefined && req.query.branch !== 'main')
        return error(422, 'branch deploys are not enabled for this site')
      const d = createDeploy(req.query.title, req.query.clear_cache === 'true')
      d.commitRef = head
      return {
        status: 200,
        body: {
          id: d.build_id,
          deploy_id: d.id,
          sha: null,
          done: false,
          error: null,
          created_at: iso(d.createdAt)
        }
      }
    }
    if (p.length === 3 && p[2] === 'deploys' && m === 'GET') return listDeploys(req)
    if (p.length === 5 && p[2] === 'deploys' && p[4] === 'restore' && m === 'POST') {
      const d = deploys.find(x => x.id === p[3])
      if (!d) return error(404, 'Not Found')
      if (d.state !== 'ready') return error(422, `Deploy ${d.id} is not ready (${d.state})`)
      publish(d)
      return { status: 201, body: deployJson(d) }
    }
    if (p.length === 3 && p[2] === 'rollback' && m === 'PUT') {
      const previous = deploys
        .filter(d => d.state === 'ready' && d.context === 'production' && d.id !== publishedId)
        .filter(d => d.publishedAt !== undefined)
        .sort((a, b) => b.publishedAt! - a.publishedAt!)[0]
      if (!previous) return error(422, 'There is no previous deploy to roll back to')
      publish(previous)
      return { status: 204 }
    }
    return error(404, 'Not Found')
  }

  const deployRoute = (req: RecordedRequest, p: string[]): Reply => {
    const d = deploys.find(x => x.id === p[1])
    if (!d) return error(404, 'Not Found')
    if (p.length === 2 && req.method === 'GET') return { status: 200, body: deployJson(d) }
    if (p.length === 3 && req.method === 'POST' && (p[2] === 'lock' || p[2] === 'unlock')) {
      if (d.id !== publishedId) return error(422, 'Only the published deploy can be locked')
      autoPublish = p[2] === 'unlock'
      return { status: 200, body: deployJson(d) }
    }
    return error(404, 'Not Found')
  }

  const route = (req: RecordedRequest, writer: boolean): Reply => {
    const p = req.path.slice('/api/v1'.length).split('/').filter(Boolean)
    if (req.method !== 'GET' && !writer)
      return error(403, 'Forbidden: this access token can only read')
    if (p[0] === 'accounts' && p[2] === 'env' && p.length <= 4)
      return envRoute(req, p[1]!, p[3] === undefined ? undefined : decodeURIComponent(p[3]))
    if (p[0] === 'sites' && p[1] !== undefined) return siteRoute(req, p)
    if (p[0] === 'deploys' && p[1] !== undefined) return deployRoute(req, p)
    return error(404, 'Not Found')
  }

  /** Counts the request against the token's window; the headers every answer carries. */
  const meter = (who: string): { headers: Record<string, string>; exhausted: boolean } => {
    const t = Date.now()
    let w = windows.get(who)
    if (!w || t >= w.resetAt) windows.set(who, (w = { used: 0, resetAt: t + windowMs }))
    const exhausted = w.used >= limit
    if (!exhausted) w.used++
    return {
      exhausted,
      headers: {
        'x-ratelimit-limit': String(limit),
        'x-ratelimit-remaining': String(Math.max(0, limit - w.used)),
        'x-ratelimit-reset': String(Math.ceil(w.resetAt / 1000))
      }
    }
  }

  const app = (req: RecordedRequest): Reply => {
    const live = published()
    if (!live) return { status: 404, text: 'Not Found - Request ID: standin' }
    const sub = req.path.slice('/app'.length) || '/'
    if (sub === '/api/health') return { status: 200, body: { status: 'ok', deploy: live.id } }
    // Outline generation (the demo's smoke script): the streaming build drops the stream.
    if (/^\/api\/workflows\/[^/]+\/outline-generation\/start-v2$/.test(sub)) {
      if (live.env.NEXT_PUBLIC_USE_STREAMING === 'true')
        return { status: 502, body: { status: 'error', error: 'stream interrupted' } }
      return { status: 200, body: { status: 'completed', outline: ['Introduction', 'Findings'] } }
    }
    if (sub === '/admin/o3-deep-research-diagnostics') {
      const mode = live.env.NEXT_PUBLIC_USE_STREAMING === 'true' ? 'streaming mode' : 'polling mode'
      return {
        status: 200,
        text: `<!doctype html><html><body><h1>O3 deep research diagnostics</h1><p>Outline generation: <b>${mode}</b></p><p>Deploy ${live.id}</p></body></html>`
      }
    }
    return { status: 200, text: '<html><body>outline-app</body></html>' }
  }

  const handle = (req: RecordedRequest): Reply => {
    if (req.path === '/app' || req.path.startsWith('/app/')) return app(req)
    if (!req.path.startsWith('/api/v1/')) return error(404, 'Not Found')
    const bearer = /^Bearer (.+)$/.exec(req.authorization ?? '')?.[1]
    const writer = bearer === token
    if (!writer && (options.readOnlyToken === undefined || bearer !== options.readOnlyToken))
      return error(401, 'Access Denied: invalid or missing access token')
    const { headers, exhausted } = meter(bearer!)
    let reply = error(429, 'API rate limit exceeded: retry after the time in X-RateLimit-Reset')
    if (!exhausted) {
      advance(1)
      reply = injected(req) ?? route(req, writer)
    }
    return { ...reply, headers: { ...headers, ...reply.headers } }
  }

  const injected = (req: RecordedRequest): Reply | undefined => {
    const hit = injections.find(
      i =>
        i.remaining > 0 &&
        (!i.method || i.method === req.method) &&
        (typeof i.path === 'string' ? i.path === req.path : i.path.test(req.path))
    )
    if (!hit) return undefined
    hit.remaining--
    if (hit.status !== 429)
      return error(hit.status, hit.status >= 500 ? 'Internal Server Error' : 'Injected failure')
    const reset = Math.ceil((Date.now() + hit.resetIn * 1000) / 1000)
    return {
      ...error(429, 'API rate limit exceeded'),
      headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset) }
    }
  }

  const hangs: Hang[] = []
  const server = await startJsonServer(req => {
    requests.push(req)
    const hung = takeHang(hangs, req)
    if (hung) return hung
    const reply = handle(req)
    req.status = reply.status
    return reply
  })
  const base = server.url

  return {
    url: server.url,
    apiUrl: `${server.url}/api/v1`,
    token,
    site,
    envVars,
    deploys,
    requests,
    writes: () => requests.filter(r => r.method !== 'GET' && r.path.startsWith('/api/')),
    requestsTo: (path, method) =>
      requests.filter(
        r =>
          (!method || r.method === method) &&
          (typeof path === 'string' ? r.path === path : path.test(r.path))
      ),
    exhaustRateLimit(resetInSeconds = 30) {
      for (const who of [token, options.readOnlyToken].filter(Boolean) as string[])
        windows.set(who, { used: limit, resetAt: Date.now() + resetInSeconds * 1000 })
    },
    failNext(path, opts = {}) {
      injections.push({
        path,
        method: opts.method,
        remaining: opts.times ?? 1,
        status: opts.status ?? 500,
        resetIn: opts.resetIn ?? 2
      })
    },
    hangNext(path, opts = {}) {
      hangs.push({ path, method: opts.method, remaining: opts.times ?? 1 })
    },
    clearFaults() {
      injections.length = 0
      hangs.length = 0
    },
    nextDeployOutcome(outcome) {
      nextOutcome = outcome
    },
    valueFor,
    published,
    lockPublishing() {
      autoPublish = false
    },
    autoPublishing: () => autoPublish,
    push(commit) {
      head = commit
      const d = createDeploy(`push ${commit.slice(0, 7)}`)
      d.commitRef = commit
      return d
    },
    advance,
    close: () => server.close()
  }
}
