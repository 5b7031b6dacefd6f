/**
 * A local Vercel REST API stand-in (node:http on 127.0.0.1:0), faithful to
 * /work/shared/reference/hosting-apis.md: Bearer auth, team scoping with ?teamId=, the
 * {"error":{"code","message"}} shape, env list/upsert/edit/delete, redeploys that build from a
 * snapshot of the project env and progress QUEUED -> BUILDING -> READY -> alias assigned, and the
 * app itself (served under /app from the live production deployment's baked-in env). After an
 * Instant Rollback (v1, as documented) a production build is READY with its generated aliases
 * assigned but `readySubstate: STAGED`: it serves no production domain until promoted. Lists
 * report `aliasAssigned` as the time it happened (a number) or null, as Vercel's do.
 *
 * Deployment lists page as Vercel's do: `limit` entries (default 20) newest first,
 * `pagination.next` is the timestamp to pass back as `until=` for the older entries. The env list
 * documents no page parameter (no `limit`, no `until`): it answers every variable at once. A rate limit is 429 `rate_limited` with
 * Retry-After and the X-RateLimit-* headers; an expired token gets 401. `latencyMs` delays every
 * answer, so round trips show in a benchmark; `requests` counts them.
 *
 * Time is counted in ticks: every request the stand-in receives advances every unfinished
 * deployment by one tick (call advance() to do it by hand), so tests with an instant sleep stay
 * deterministic.
 */
import { startJsonServer, takeHang, type Hang, type RecordedRequest, type Reply } from './http.js'

/** `secret` is a legacy type: still listed (its value never returned), refused when creating. */
export type EnvType = 'plain' | 'encrypted' | 'sensitive' | 'secret'
export type Target = 'production' | 'preview' | 'development'
const TARGETS: readonly string[] = ['production', 'preview', 'development']

export interface StandinEnv {
  id: string
  key: string
  value: string
  type: EnvType
  target: Target[]
  gitBranch?: string
  comment?: string
  createdAt: number
  updatedAt: number
}

export type DeploymentOutcome = 'READY' | 'ERROR' | 'CANCELED' | 'BLOCKED' | 'aliasError'

export interface StandinDeployment {
  id: string
  url: string
  name: string
  projectId: string
  target: 'production' | 'preview'
  readyState: 'QUEUED' | 'BUILDING' | 'READY' | 'ERROR' | 'CANCELED' | 'BLOCKED'
  /**
   * Its generated aliases are assigned: also true for a production build staged after an Instant
   * Rollback, which serves no production domain until promoted (`readySubstate` says which).
   */
  aliasAssigned: boolean
  /** When the aliases were assigned: lists and project targets report this number, not `true`. */
  aliasAssignedAt?: number
  /** It served production traffic at some point (readySubstate PROMOTED, else STAGED). */
  promoted: boolean
  aliasError: { code: string; message: string } | null
  errorCode?: string
  errorMessage?: string
  createdAt: number
  buildingAt?: number
  ready?: number
  meta: Record<string, string>
  /** The env values baked into this build (snapshotted when it started building). */
  env: Record<string, string>
  outcome: DeploymentOutcome
  sourceId?: string
  /** Reuse the source build's NEXT_PUBLIC_* values (build cache, no forceNew). */
  staleCache: boolean
  ticks: number
}

export interface VercelStandinOptions {
  /** The one valid token (default 'vercel-test-token'). */
  token?: string
  project?: { id?: string; name?: string; teamId?: string; teamSlug?: string }
  /** Initial project env; target defaults to [production], type to encrypted. */
  env?: Array<{ key: string; value: string; type?: EnvType; target?: Target[] }>
  /** Create a READY, aliased production deployment built from the initial env (default true). */
  initialDeployment?: boolean
  /** Also advance one tick every `tickMs` of real time (default: only on requests). */
  tickMs?: number
  /** Ticks spent QUEUED, BUILDING, and READY-before-alias (default 1, 2, 1). */
  ticks?: { queued?: number; building?: number; alias?: number }
  /**
   * Model the unsettled case where a redeploy by deploymentId rebuilds with the SOURCE
   * deployment's env instead of the project's current env.
   */
  redeployKeepsOldEnv?: boolean
  /** Entries per page of the deployment lists when the caller sends no `limit` (default 20). */
  pageSize?: number
  /**
   * The env list answers every variable at once (its documented query has no page parameter);
   * this makes it answer a non-null `pagination.next` anyway, as an undocumented change might.
   */
  envNextPage?: number
  /** A token Vercel no longer accepts: 401 (default none). */
  expiredToken?: string
  /** Delay before every answer, in ms (default 0). */
  latencyMs?: number
  /**
   * READY production deployments built before the live one (Instant Rollback targets), each
   * `ageMs` old, built with the initial env overridden by `env`, its build `buildMs` long, from
   * git commit `commit` (recorded as `meta.githubCommitSha`, as Vercel's GitHub integration does).
   */
  earlier?: Array<{
    ageMs: number
    env?: Record<string, string>
    buildMs?: number
    commit?: string
  }>
  /** The git commit the initial (live) deployment was built from. */
  liveCommit?: string
  /** The most entries a deployment list page holds whatever `limit` asks (default 100). */
  maxPageSize?: number
  /** Project reads that show an Instant Rollback `in-progress` before `succeeded` (default 0). */
  rollbackPolls?: number
  /**
   * How an Instant Rollback's alias job ends (default succeeded). `failed` and `skipped` leave
   * production where it was, as the job did not move it.
   */
  rollbackOutcome?: 'succeeded' | 'failed' | 'skipped'
  /** The token may not decrypt: the one-variable read answers the ciphertext, `decrypted: false`. */
  decryptDenied?: boolean
}

interface Injection {
  method?: string
  path: string | RegExp
  remaining: number
  reply: () => Reply
}

const err = (status: number, code: string, message: string, extra: object = {}): Reply => ({
  status,
  body: { error: { code, message, ...extra } }
})

export interface VercelStandin {
  url: string
  token: string
  project: { id: string; name: string; teamId?: string; teamSlug?: string }
  envs: StandinEnv[]
  deployments: StandinDeployment[]
  /** Every request received, in order (auth header included, to assert on it). */
  requests: RecordedRequest[]
  /** The most requests that were being answered at the same time (concurrency shows here). */
  inFlightPeak(): number
  /** Requests received before the first one that is not a GET (all of them when none). */
  requestsBeforeFirstWrite(): RecordedRequest[]
  /** Requests whose path matches (and method, when given). */
  requestsTo(path: string | RegExp, method?: string): RecordedRequest[]
  /** The next `times` calls to `path` answer 429 rate_limited with Retry-After. */
  rateLimit(
    path: string | RegExp,
    opts?: { times?: number; retryAfter?: number; method?: string }
  ): void
  /** The next `times` calls to `path` answer `status` (default 500) with a Vercel error body. */
  failNext(
    path: string | RegExp,
    opts?: { times?: number; status?: number; code?: string; message?: string; method?: string }
  ): void
  /** The next `times` calls to `path` are received and never answered (a hung connection). */
  hangNext(path: string | RegExp, opts?: { times?: number; method?: string }): void
  /** Forgets every injected failure not yet used (rateLimit, failNext, failEnvKey). */
  clearFaults(): void
  /** The next upsert of `key` answers 201 but lists it in `failed`, named only by `envVarKey`. */
  failEnvKey(key: string, opts?: { code?: string; message?: string; times?: number }): void
  /** How the next created deployment ends. */
  nextDeploymentOutcome(outcome: DeploymentOutcome): void
  /** Changes the project env behind the client's back (another person in the dashboard). */
  setEnv(key: string, value: string, target?: Target[], type?: EnvType): StandinEnv
  /** Vercel Instant Rollback to `id` (default: the previous production deployment). */
  instantRollback(id?: string): StandinDeployment
  /** false after an Instant Rollback until a deployment is promoted. */
  autoAssignsProduction(): boolean
  /**
   * Turns automatic production assignment off as a project that stages its production builds on
   * purpose does (no rollback: `lastAliasRequest` stays as it was).
   */
  stageProductionBuilds(): void
  /** A push to the production branch: a production build of `commit` (staged while assignment is off). */
  pushProduction(commit?: string): StandinDeployment
  /** The deployment production traffic goes to. */
  liveDeployment(): StandinDeployment | undefined
  advance(ticks?: number): void
  close(): Promise<void>
}

export async function startVercelStandin(
  options: VercelStandinOptions = {}
): Promise<VercelStandin> {
  const token = options.token ?? 'vercel-test-token'
  const project = {
    id: options.project?.id ?? 'prj_outline123',
    name: options.project?.name ?? 'outline-app',
    teamId: options.project?.teamId,
    teamSlug: options.project?.teamSlug
  }
  const ticks = { queued: 1, building: 2, alias: 1, ...options.ticks }
  const requests: RecordedRequest[] = []
  const injections: Injection[] = []
  const keyFailures = new Map<string, { code: string; message: string; times: number }>()
  const envs: StandinEnv[] = []
  const deployments: StandinDeployment[] = []
  let nextOutcome: DeploymentOutcome = 'READY'
  let liveId: string | undefined
  let autoAssign = true
  let lastAliasRequest: Record<string, unknown> | null = null
  let rollbackPolls = options.rollbackPolls ?? 0
  let counter = 0
  let lastNow = 0
  // Strictly increasing clock: "built after the env changed" must be decidable in a fast test.
  const now = () => (lastNow = Math.max(Date.now(), lastNow + 1))
  const newId = (prefix: string) =>
    `${prefix}_${(++counter).toString(36).padStart(6, '0')}x${Math.random().toString(36).slice(2, 8)}`

  const addEnv = (key: string, value: string, target: Target[], type: EnvType): StandinEnv => {
    const t = now()
    const env: StandinEnv = {
      id: newId('env'),
      key,
      value,
      type,
      target: [...target],
      createdAt: t,
      updatedAt: t
    }
    envs.push(env)
    return env
  }
  for (const e of options.env ?? [])
    addEnv(e.key, e.value, e.target ?? ['production'], e.type ?? 'encrypted')

  const snapshot = (target: string): Record<string, string> =>
    Object.fromEntries(
      envs.filter(e => (e.target as string[]).includes(target)).map(e => [e.key, e.value])
    )

  const createDeployment = (
    target: 'production' | 'preview',
    source?: StandinDeployment,
    staleCache = false,
    meta: Record<string, string> = {}
  ) => {
    const id = newId('dpl')
    const d: StandinDeployment = {
      id,
      url: `${project.name}-${id.slice(4, 13)}${project.teamSlug ? `-${project.teamSlug}` : ''}.vercel.app`,
      name: project.name,
      projectId: project.id,
      target,
      readyState: 'QUEUED',
      aliasAssigned: false,
      promoted: false,
      aliasError: null,
      createdAt: now(),
      meta,
      env: {},
      outcome: nextOutcome,
      sourceId: source?.id,
      staleCache,
      ticks: 0
    }
    nextOutcome = 'READY'
    deployments.push(d)
    return d
  }

  const step = (d: StandinDeployment) => {
    if (['ERROR', 'CANCELED', 'BLOCKED'].includes(d.readyState)) return
    if (d.readyState === 'READY' && (d.aliasAssigned || d.aliasError)) return
    d.ticks++
    if (d.readyState === 'QUEUED' && d.ticks >= ticks.queued) {
      // BLOCKED: waits for an approval (Git fork protection, ...) that never comes here.
      if (d.outcome === 'CANCELED' || d.outcome === 'BLOCKED') {
        d.readyState = d.outcome
        return
      }
      d.readyState = 'BUILDING'
      d.buildingAt = now()
      const source = deployments.find(s => s.id === d.sourceId)
      let env = snapshot(d.target)
      if (source && options.redeployKeepsOldEnv) env = { ...source.env }
      if (source && d.staleCache && env.VERCEL_FORCE_NO_BUILD_CACHE !== '1') {
        // The build cache serves the NEXT_PUBLIC_* values compiled into the source build.
        for (const [k, v] of Object.entries(source.env))
          if (k.startsWith('NEXT_PUBLIC_')) env[k] = v
      }
      d.env = env
      d.ticks = 0
    } else if (d.readyState === 'BUILDING' && d.ticks >= ticks.building) {
      d.ticks = 0
      if (d.outcome === 'ERROR') {
        d.readyState = 'ERROR'
        d.errorCode = 'BUILD_FAILED'
        d.errorMessage = 'Command "npm run build" exited with 1'
        return
      }
      d.readyState = 'READY'
      d.ready = now()
    } else if (d.readyState === 'READY' && d.ticks >= ticks.alias) {
      if (d.outcome === 'aliasError') {
        d.aliasError = {
          code: 'DOMAIN_VERIFICATION_FAILED',
          message: 'The domain outline-app.example.com could not be verified'
        }
        return
      }
      // After an Instant Rollback, production builds stay staged until one is promoted: their
      // generated aliases are assigned all the same (aliasAssigned true, readySubstate STAGED).
      if (d.target === 'production' && autoAssign) serve(d)
      else assignAliases(d)
    }
  }
  /** Production domains point at `d` from now on. */
  const serve = (d: StandinDeployment) => {
    liveId = d.id
    d.promoted = true
    assignAliases(d)
  }
  function assignAliases(d: StandinDeployment) {
    if (!d.aliasAssigned) d.aliasAssignedAt = now()
    d.aliasAssigned = true
  }
  const advance = (n = 1) => {
    for (let i = 0; i < n; i++) for (const d of deployments) step(d)
  }

  const commitMeta = (sha?: string): Record<string, string> => (sha ? { githubCommitSha: sha } : {})
  const gitMeta = (source?: StandinDeployment) => commitMeta(source?.meta.githubCommitSha)

  for (const e of options.earlier ?? []) {
    const d = createDeployment('production', undefined, false, commitMeta(e.commit))
    d.createdAt = d.buildingAt = Date.now() - e.ageMs
    d.ready = d.createdAt + (e.buildMs ?? 60_000)
    d.readyState = 'READY'
    // It was live once: its alias was assigned then (Vercel keeps the flag).
    serve(d)
    d.env = { ...snapshot('production'), ...e.env }
  }
  if (options.initialDeployment !== false) {
    const d = createDeployment('production', undefined, false, commitMeta(options.liveCommit))
    d.readyState = 'READY'
    d.buildingAt = d.createdAt
    d.ready = now()
    d.env = snapshot('production')
    serve(d)
  }

  const envJson = (e: StandinEnv, decrypt: boolean) => {
    const out: Record<string, unknown> = {
      id: e.id,
      key: e.key,
      type: e.type,
      target: e.target,
      configurationId: null,
      createdAt: e.createdAt,
      updatedAt: e.updatedAt
    }
    if (e.gitBranch) out.gitBranch = e.gitBranch
    if (e.comment) out.comment = e.comment
    // Sensitive values are never returned; encrypted ones only when decrypt=true.
    if (e.type === 'plain') out.value = e.value
    else if (e.type === 'encrypted') {
      out.value = decrypt ? e.value : Buffer.from(`vercel-encrypted:${e.id}`).toString('base64')
      out.decrypted = decrypt
    }
    return out
  }

  const readySubstate = (d: StandinDeployment) =>
    d.readyState === 'READY' ? { readySubstate: d.promoted ? 'PROMOTED' : 'STAGED' } : {}

  const deploymentJson = (d: StandinDeployment) => ({
    id: d.id,
    url: d.url,
    name: d.name,
    projectId: d.projectId,
    target: d.target,
    readyState: d.readyState,
    ...readySubstate(d),
    status: d.readyState,
    aliasAssigned: d.aliasAssigned,
    aliasError: d.aliasError,
    ...(d.errorCode ? { errorCode: d.errorCode, errorMessage: d.errorMessage } : {}),
    createdAt: d.createdAt,
    buildingAt: d.buildingAt,
    ready: d.ready,
    meta: d.meta,
    alias: d.id === liveId ? [`${project.name}.vercel.app`] : [],
    inspectorUrl: `https://vercel.com/${project.teamSlug ?? 'me'}/${project.name}/${d.id}`
  })

  const listJson = (d: StandinDeployment) => ({
    uid: d.id,
    name: d.name,
    url: d.url,
    state: d.readyState,
    readyState: d.readyState,
    ...readySubstate(d),
    target: d.target,
    created: d.createdAt,
    createdAt: d.createdAt,
    buildingAt: d.buildingAt,
    ready: d.ready,
    meta: d.meta,
    // The list reports when the alias was assigned (a number), or null: not a boolean.
    aliasAssigned: d.aliasAssigned ? (d.aliasAssignedAt ?? d.createdAt) : null,
    aliasError: d.aliasError
  })

  /** Team scoping: undefined when the caller is in the project's scope, else the error reply. */
  const scopeError = (q: Record<string, string>, what: string): Reply | undefined => {
    const team =
      q.teamId ??
      (q.slug !== undefined ? (q.slug === project.teamSlug ? project.teamId : q.slug) : undefined)
    if (team !== undefined && team !== project.teamId)
      return err(403, 'forbidden', 'Not authorized: you do not have access to this team')
    if (project.teamId && team === undefined) return err(404, 'not_found', `${what} not found`)
    return undefined
  }
  const findProject = (idOrName: string, q: Record<string, string>): Reply | undefined => {
    if (idOrName !== project.id && idOrName !== project.name)
      return err(404, 'not_found', 'Project not found')
    return scopeError(q, 'Project')
  }

  /** One page, newest first: `limit` entries created before `until`, and the next `until`. */
  const page = <T extends { createdAt: number }>(all: T[], q: Record<string, string>) => {
    const limit = Math.min(Number(q.limit) || (options.pageSize ?? 20), options.maxPageSize ?? 100)
    const until = q.until !== undefined ? Number(q.until) : Infinity
    const older = all.filter(x => x.createdAt < until).sort((a, b) => b.createdAt - a.createdAt)
    const items = older.slice(0, limit)
    const next = older.length > limit ? items[items.length - 1]!.createdAt : null
    return { items, pagination: { count: items.length, next, prev: null } }
  }

  const validTargets = (t: unknown): Target[] | undefined => {
    const list = typeof t === 'string' ? [t] : t
    if (!Array.isArray(list) || list.length === 0) return undefined
    if (!list.every(x => typeof x === 'string' && TARGETS.includes(x))) return undefined
    return [...new Set(list as Target[])]
  }
  const sameSet = (a: string[], b: string[]) => a.length === b.length && a.every(x => b.includes(x))

  const upsertEnv = (req: RecordedRequest, upsert: boolean): Reply => {
    const single = !Array.isArray(req.body)
    const items: unknown[] = single ? [req.body] : (req.body as unknown[])
    if (items.length === 0 || items.some(i => typeof i !== 'object' || i === null))
      return err(
        400,
        'bad_request',
        'Invalid request: body must be an object or an array of objects'
      )
    // Validate the whole body first: an invalid item fails the request.
    for (const raw of items) {
      const item = raw as Record<string, unknown>
      if (typeof item.key !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(item.key))
        return err(
          400,
          'bad_request',
          'Invalid request: `key` should be a valid environment variable name'
        )
      if (typeof item.value !== 'string')
        return err(400, 'bad_request', 'Invalid request: missing required property `value`')
      if (item.type === 'secret')
        return err(
          400,
          'bad_request',
          'Invalid request: `type` "secret" is no longer supported; use "encrypted" or "sensitive"'
        )
      if (!['plain', 'encrypted', 'sensitive'].includes(item.type as string))
        return err(
          400,
          'bad_request',
          'Invalid request: `type` should be one of "plain", "encrypted", "sensitive"'
        )
      if (!validTargets(item.target))
        return err(
          400,
          'bad_request',
          'Invalid request: `target` should be a non-empty array of production, preview, development'
        )
    }
    const created: unknown[] = []
    const failed: unknown[] = []
    for (const raw of items) {
      const item = raw as {
        key: string
        value: string
        type: EnvType
        target: unknown
        gitBranch?: string
        comment?: string
      }
      const target = validTargets(item.target)!
      const injected = keyFailures.get(item.key)
      if (injected && injected.times > 0) {
        injected.times--
        // As Vercel does for some failures: the variable is named only by `envVarKey`.
        failed.push({
          error: { code: injected.code, message: injected.message, envVarKey: item.key, target }
        })
        continue
      }
      const matches = envs.filter(e => e.key === item.key && e.gitBranch === item.gitBranch)
      const exact = matches.find(e => sameSet(e.target, target))
      const overlapping = matches.filter(e => e.target.some(t => target.includes(t)))
      let failure: Record<string, unknown> | undefined
      if (!upsert && overlapping.length > 0) {
        failure = {
          code: 'ENV_ALREADY_EXISTS',
          message: `A variable with the name \`${item.key}\` already exists for the target ${overlapping[0]!.target.join(',')} on branch ${item.gitBranch ?? 'undefined'}`,
          key: item.key,
          envVarId: overlapping[0]!.id,
          target
        }
      } else if (upsert && !exact && overlapping.length > 0) {
        failure = {
          code: 'ENV_CONFLICT',
          message: `The variable \`${item.key}\` exists with a different set of targets (${overlapping[0]!.target.join(',')}); upsert needs the same targets`,
          key: item.key,
          envVarId: overlapping[0]!.id,
          target
        }
      }
      if (failure) {
        if (single) return { status: 400, body: { error: failure } }
        failed.push({ error: failure })
        continue
      }
      if (exact) {
        exact.value = item.value
        exact.type = item.type
        if (item.comment !== undefined) exact.comment = item.comment
        exact.updatedAt = now()
        created.push(envJson(exact, false))
      } else {
        const e = addEnv(item.key, item.value, target, item.type)
        if (item.gitBranch) e.gitBranch = item.gitBranch
        if (item.comment) e.comment = item.comment
        created.push(envJson(e, false))
      }
    }
    return { status: 201, body: { created: single ? (created[0] ?? null) : created, failed } }
  }

  const route = (req: RecordedRequest): Reply => {
    const q = req.query
    const p = req.path.split('/').filter(Boolean)
    const m = req.method
    // /v9/projects/{idOrName}
    if (m === 'GET' && p.length === 3 && p[0] === 'v9' && p[1] === 'projects') {
      const bad = findProject(p[2]!, q)
      if (bad) return bad
      if (lastAliasRequest?.jobStatus === 'in-progress' && --rollbackPolls <= 0)
        lastAliasRequest.jobStatus = options.rollbackOutcome ?? 'succeeded'
      const live = deployments.find(d => d.id === liveId)
      return {
        status: 200,
        body: {
          id: project.id,
          name: project.name,
          accountId: project.teamId ?? 'user_standin',
          framework: 'nextjs',
          autoAssignCustomDomains: autoAssign,
          lastAliasRequest,
          targets: live
            ? {
                production: {
                  id: live.id,
                  url: live.url,
                  readyState: live.readyState,
                  createdAt: live.createdAt,
                  aliasAssigned: live.aliasAssignedAt ?? null
                }
              }
            : {},
          latestDeployments: deployments.slice(-3).reverse().map(deploymentJson)
        }
      }
    }
    // Instant rollback (v1, as documented) and promote (v10): 201, empty body.
    if (
      m === 'POST' &&
      p.length === 5 &&
      p[1] === 'projects' &&
      ((p[3] === 'rollback' && p[0] === 'v1') || (p[3] === 'promote' && p[0] === 'v10'))
    ) {
      const bad = findProject(p[2]!, q)
      if (bad) return bad
      const d = deployments.find(x => x.id === p[4])
      if (!d) return err(404, 'not_found', 'Deployment not found')
      if (d.readyState !== 'READY')
        return err(400, 'bad_request', `Deployment ${d.id} is not READY (${d.readyState})`)
      const rollback = p[3] === 'rollback'
      const outcome = rollback ? (options.rollbackOutcome ?? 'succeeded') : 'succeeded'
      lastAliasRequest = {
        fromDeploymentId: liveId,
        toDeploymentId: d.id,
        jobStatus: rollback && rollbackPolls > 0 ? 'in-progress' : outcome,
        requestedAt: now(),
        type: rollback ? 'rollback' : 'promote'
      }
      if (outcome !== 'succeeded') return { status: 201 }
      serve(d)
      autoAssign = !rollback
      return { status: 201 }
    }
    if (p[1] === 'projects' && p[3] === 'env' && p[2] !== undefined) {
      const bad = findProject(p[2], q)
      if (bad) return bad
      // Retrieve one variable, decrypted (sensitive values still never come back).
      if (p[0] === 'v1' && p.length === 5 && m === 'GET') {
        const env = envs.find(e => e.id === p[4])
        if (!env) return err(404, 'not_found', 'Environment variable not found')
        return { status: 200, body: envJson(env, !options.decryptDenied) }
      }
      if (p[0] === 'v10' && p.length === 4 && m === 'GET') {
        const list = envs.filter(e =>
          q.gitBranch ? e.gitBranch === q.gitBranch || !e.gitBranch : true
        )
        const next = options.envNextPage ?? null
        return {
          status: 200,
          body: {
            envs: list.map(e => envJson(e, q.decrypt === 'true')),
            pagination: { count: list.length, next, prev: null }
          }
        }
      }
      if ((p[0] === 'v10' || p[0] === 'v9') && p.length === 4 && m === 'POST') {
        // Upsert exists on v10 only.
        return upsertEnv(req, p[0] === 'v10' && q.upsert === 'true')
      }
      if (p[0] === 'v9' && p.length === 5 && (m === 'PATCH' || m === 'DELETE')) {
        const env = envs.find(e => e.id === p[4])
        if (!env) return err(404, 'not_found', 'Environment variable not found')
        if (m === 'DELETE') {
          envs.splice(envs.indexOf(env), 1)
          return { status: 200, body: envJson(env, false) }
        }
        const body = (req.body ?? {}) as Record<string, unknown>
        if (body.type === 'secret')
          return err(400, 'bad_request', 'Invalid request: `type` "secret" is no longer supported')
        if (body.target !== undefined) {
          const t = validTargets(body.target)
          if (!t) return err(400, 'bad_request', 'Invalid request: `target` is invalid')
          env.target = t
        }
        if (typeof body.value === 'string') env.value = body.value
        if (typeof body.key === 'string') env.key = body.key
        if (typeof body.type === 'string') env.type = body.type as EnvType
        env.updatedAt = now()
        return { status: 200, body: envJson(env, false) }
      }
    }
    if (p[0] === 'v13' && p[1] === 'deployments') {
      const bad = scopeError(q, 'Deployment')
      if (m === 'POST' && p.length === 2) {
        if (bad) return bad.status === 404 ? err(404, 'not_found', 'Project not found') : bad
        const body = (req.body ?? {}) as Record<string, unknown>
        // `name` is required (documented), even when `project` names the project.
        if (typeof body.name !== 'string')
          return err(400, 'bad_request', 'Invalid request: missing required property `name`')
        const ref = (body.project ?? body.name) as string
        if (ref !== project.name && ref !== project.id)
          return err(404, 'not_found', 'Project not found')
        const target = body.target === 'production' ? 'production' : 'preview'
        let source: StandinDeployment | undefined
        if (body.deploymentId !== undefined) {
          source = deployments.find(d => d.id === body.deploymentId || d.url === body.deploymentId)
          if (!source) return err(404, 'not_found', 'Deployment not found')
        } else if (body.gitSource === undefined) {
          return err(400, 'bad_request', 'Invalid request: provide `deploymentId` or `gitSource`')
        }
        // A redeploy builds its source's commit again: Vercel keeps the git metadata.
        const meta = {
          ...(typeof body.meta === 'object' && body.meta !== null
            ? (body.meta as Record<string, string>)
            : {}),
          ...gitMeta(source)
        }
        const d = createDeployment(target, source, q.forceNew !== '1', meta)
        return { status: 200, body: deploymentJson(d) }
      }
      if (m === 'GET' && p.length === 3) {
        if (bad) return err(404, 'not_found', 'Deployment not found')
        const d = deployments.find(x => x.id === p[2] || x.url === p[2])
        if (!d) return err(404, 'not_found', 'Deployment not found')
        return { status: 200, body: deploymentJson(d) }
      }
    }
    if (
      (p[0] === 'v6' || p[0] === 'v7') &&
      p[1] === 'deployments' &&
      p.length === 2 &&
      m === 'GET'
    ) {
      const bad = scopeError(q, 'Project')
      if (bad) return bad
      if (q.projectId !== undefined && q.projectId !== project.id && q.projectId !== project.name)
        return {
          status: 200,
          body: { deployments: [], pagination: { count: 0, next: null, prev: null } }
        }
      const states = q.state?.split(',')
      const list = deployments
        .filter(d => (q.target ? d.target === q.target : true))
        .filter(d => (states ? states.includes(d.readyState) : true))
        .filter(d => (q.since ? d.createdAt >= Number(q.since) : true))
      const { items, pagination } = page(list, q)
      return { status: 200, body: { deployments: items.map(listJson), pagination } }
    }
    return err(404, 'not_found', 'The requested path was not found')
  }

  const app = (req: RecordedRequest): Reply => {
    const live = deployments.find(d => d.id === liveId)
    if (!live) return { status: 404, text: 'DEPLOYMENT_NOT_FOUND' }
    const sub = req.path.slice('/app'.length) || '/'
    if (sub === '/api/health') return { status: 200, body: { status: 'ok', deployment: live.id } }
    // Outline generation for a workflow: works in polling mode; the streaming build drops the
    // connection mid-stream (the seed's incident), which the app reports as a 502.
    if (
      /^\/api\/workflows\/[^/]+\/outline-generation\/start-v2$/.test(sub) &&
      req.method === 'POST'
    ) {
      if (live.env.NEXT_PUBLIC_USE_STREAMING === 'true')
        return { status: 502, body: { status: 'error', error: 'stream interrupted' } }
      return {
        status: 200,
        body: { status: 'completed', outline: ['Introduction', 'Findings', 'Next steps'] }
      }
    }
    if (sub === '/admin/o3-deep-research-diagnostics') {
      const mode = live.env.NEXT_PUBLIC_USE_STREAMING === 'true' ? 'streaming mode' : 'polling mode'
      return {
        status: 200,
        text: `<!doctype html><html><body><h1>O3 deep research diagnostics</h1><p>Outline generation: <b>${mode}</b></p><p>Build ${live.id}</p></body></html>`
      }
    }
    if (sub === '/') return { status: 200, text: '<html><body>outline-app</body></html>' }
    return { status: 404, text: '<html><body>404: This page could not be found.</body></html>' }
  }

  const handle = (req: RecordedRequest): Reply => {
    advance(1)
    const injection = injections.find(
      i =>
        i.remaining > 0 &&
        (!i.method || i.method === req.method) &&
        (typeof i.path === 'string' ? i.path === req.path : i.path.test(req.path))
    )
    if (injection) {
      injection.remaining--
      return injection.reply()
    }
    if (req.path === '/app' || req.path.startsWith('/app/')) return app(req)
    if (!req.authorization)
      return err(403, 'forbidden', 'The request is missing an authentication token', {
        missingToken: true
      })
    if (options.expiredToken && req.authorization === `Bearer ${options.expiredToken}`)
      return err(401, 'unauthorized', 'The token has expired or was revoked', {
        invalidToken: true
      })
    if (req.authorization !== `Bearer ${token}`)
      return err(403, 'forbidden', 'Not authorized', { invalidToken: true })
    return route(req)
  }

  const timer = options.tickMs ? setInterval(() => advance(1), options.tickMs) : undefined
  timer?.unref()

  let inFlight = 0
  let inFlightPeak = 0
  const server = await startJsonServer(async req => {
    inFlightPeak = Math.max(inFlightPeak, ++inFlight)
    try {
      return await answer(req)
    } finally {
      inFlight--
    }
  })
  const hangs: Hang[] = []
  async function answer(req: RecordedRequest): Promise<Reply> {
    requests.push(req)
    const hung = takeHang(hangs, req)
    if (hung) return hung
    const reply = handle(req)
    req.status = reply.status
    if (options.latencyMs) await new Promise(resolve => setTimeout(resolve, options.latencyMs))
    return reply
  }

  return {
    url: server.url,
    token,
    project,
    envs,
    deployments,
    requests,
    inFlightPeak: () => inFlightPeak,
    requestsBeforeFirstWrite: () => {
      const write = requests.findIndex(r => r.method !== 'GET')
      return write < 0 ? [...requests] : requests.slice(0, write)
    },
    requestsTo: (path, method) =>
      requests.filter(
        r =>
          (!method || r.method === method) &&
          (typeof path === 'string' ? r.path === path : path.test(r.path))
      ),
    rateLimit(path, opts = {}) {
      const retryAfter = opts.retryAfter ?? 7
      injections.push({
        method: opts.method,
        path,
        remaining: opts.times ?? 1,
        reply: () => {
          const resetMs = Date.now() + retryAfter * 1000
          return {
            status: 429,
            headers: {
              'retry-after': String(retryAfter),
              'x-ratelimit-limit': '100',
              'x-ratelimit-remaining': '0',
              'x-ratelimit-reset': String(Math.ceil(resetMs / 1000))
            },
            body: {
              error: {
                code: 'rate_limited',
                message: `Rate limit exceeded. Try again in ${retryAfter} seconds.`,
                limit: { remaining: 0, reset: Math.ceil(resetMs / 1000), resetMs, total: 100 }
              }
            }
          }
        }
      })
    },
    failNext(path, opts = {}) {
      const status = opts.status ?? 500
      injections.push({
        method: opts.method,
        path,
        remaining: opts.times ?? 1,
        reply: () =>
          err(
            status,
            opts.code ?? (status >= 500 ? 'internal_server_error' : 'bad_request'),
            opts.message ?? 'An unexpected internal error occurred'
          )
      })
    },
    hangNext(path, opts = {}) {
      hangs.push({ path, method: opts.method, remaining: opts.times ?? 1 })
    },
    clearFaults() {
      injections.splice(0)
      hangs.splice(0)
      keyFailures.clear()
    },
    failEnvKey(key, opts = {}) {
      keyFailures.set(key, {
        code: opts.code ?? 'ENV_CREATION_FAILED',
        message: opts.message ?? `Could not save the variable \`${key}\``,
        times: opts.times ?? 1
      })
    },
    nextDeploymentOutcome(outcome) {
      nextOutcome = outcome
    },
    setEnv(key, value, target = ['production'], type = 'encrypted') {
      const existing = envs.find(e => e.key === key && sameSet(e.target, target))
      if (!existing) return addEnv(key, value, target, type)
      existing.value = value
      existing.updatedAt = now()
      return existing
    },
    liveDeployment: () => deployments.find(d => d.id === liveId),
    instantRollback(id) {
      const target =
        deployments.find(d => d.id === id) ??
        [...deployments]
          .reverse()
          .find(d => d.target === 'production' && d.readyState === 'READY' && d.id !== liveId)
      if (!target) throw new Error('no deployment to roll back to')
      lastAliasRequest = {
        fromDeploymentId: liveId,
        toDeploymentId: target.id,
        jobStatus: 'succeeded',
        type: 'rollback'
      }
      serve(target)
      autoAssign = false
      return target
    },
    autoAssignsProduction: () => autoAssign,
    stageProductionBuilds() {
      autoAssign = false
    },
    pushProduction(commit) {
      return createDeployment('production', undefined, false, commitMeta(commit))
    },
    advance,
    close: () => {
      if (timer) clearInterval(timer)
      return server.close()
    }
  }
}
