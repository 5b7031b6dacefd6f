/**
 * Vercel REST client behind the HostingProvider interface, on the shared HTTP layer (src/http):
 * every call carries the team scope; 429/503 wait for Retry-After exactly (plus jitter), other 5xx
 * back off; lists are read to the end (pagination.next) or refused; the env list, which documents
 * no page parameter, in one request. One instance serves one run:
 * the project and the env list are read once (and again only after this instance changed them),
 * and only the variables the runbook names are decrypted.
 */
import { RollbackError } from '../util/errors.js'
import type { Logger } from '../util/logger.js'
import { formatDuration } from '../util/duration.js'
import {
  HttpClient,
  poll,
  readVercelList,
  readVercelPages,
  vercelErrorShape,
  type Clock,
  type FetchLike,
  type HttpStatusError
} from '../http/index.js'
import { newestQualifying } from './cutoff.js'
import { seal, SEAL_FIELD } from './seal.js'
import {
  sameTargets,
  type Cutoff,
  type Deployment,
  type EnvChange,
  type EnvTarget,
  type HostedEnv,
  type HostingProvider,
  type RollbackCandidate,
  type RolledBack,
  type WaitOptions
} from './types.js'

export const VERCEL_API_URL = 'https://api.vercel.com'

export interface VercelOptions {
  apiUrl?: string
  token: string
  /** Project id or name. */
  project: string
  teamId?: string
  /** Where the token came from (an env variable name), for hints. Never the token. */
  tokenSource: string
  /** Default: the global fetch (entry points pass a proxy-aware one through the context). */
  fetch?: FetchLike
  /** Time, waits and jitter (tests inject them). */
  clock?: Clock
  log?: Logger
}

/** Decrypting reads, at most this many at once. */
const DECRYPT_CONCURRENCY = 4

interface Project {
  id: string
  name: string
  productionId?: string
  autoAssign: boolean
  /** The last rollback or promote, where production was and went, and how far it got. */
  lastAlias?: AliasRequest
}

interface AliasRequest {
  type?: string
  fromDeploymentId?: string
  toDeploymentId?: string
  jobStatus?: string
}

type EnvEntry = Record<string, unknown>

/** A request's bound: the deadline of the poll it is part of. */
interface Call {
  deadline?: number
}

const ROLLBACK_HINT =
  'Roll back in the Vercel dashboard (Deployments > Instant Rollback), or rerun: the durable fix follows either way.'
const PROMOTE_HINT =
  'Production still serves the previous deployment. Promote this one in the Vercel dashboard (Deployments > Promote), or rerun.'

const CONFLICT_HINT =
  'Make flags.targets equal to the targets of the existing variable, or split it in the Vercel dashboard first.'

/** The source commit Vercel's git integrations record in a deployment's meta. */
function commitOf(meta: unknown): string | undefined {
  const m = (meta ?? {}) as Record<string, unknown>
  const sha = m.githubCommitSha ?? m.gitlabCommitSha ?? m.bitbucketCommitSha
  return typeof sha === 'string' && sha !== '' ? sha : undefined
}

/** Every call's team scope: `?teamId=` for a team id (`team_...`), else `?slug=` (both documented). */
function teamScope(team: string | undefined): Record<string, string | undefined> {
  return team === undefined || team.startsWith('team_') ? { teamId: team } : { slug: team }
}

/** Lists and project targets give the time the alias was assigned (or null); a deployment, `true`. */
function assigned(value: unknown): boolean {
  return value === true || (typeof value === 'number' && value > 0)
}

/** Production domains point at it: READY, aliased, and not a build staged after an Instant Rollback. */
function serving(d: Deployment): boolean {
  return d.state === 'READY' && d.aliasAssigned && !d.staged
}

/** What a READY deployment waits for, for the log. */
function readyPhase(d: Deployment, live: boolean, promoted: boolean): string {
  if (live) return 'alias assigned'
  if (promoted) return 'promotion pending'
  return d.staged ? 'staged' : 'alias pending'
}

/** The types an upsert accepts: legacy `secret` values stay unreadable (sensitive), the rest encrypted. */
function upsertType(old: EnvChange['old']): string {
  if (!old || old.type === 'system') return 'encrypted'
  return old.type === 'secret' ? 'sensitive' : old.type
}

function toTargets(target: unknown): EnvTarget[] {
  const list = Array.isArray(target) ? target : typeof target === 'string' ? [target] : []
  return list.filter((t): t is EnvTarget => ['production', 'preview', 'development'].includes(t))
}

/** `fn` over `items`, `limit` at a time, results in order. */
async function mapLimited<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>) {
  const results: R[] = []
  for (let i = 0; i < items.length; i += limit)
    results.push(...(await Promise.all(items.slice(i, i + limit).map(fn))))
  return results
}

/** The variable a `failed[]` entry of a 201 names: `key` or `envVarKey`, on the entry or its error. */
export function failedKey(entry: unknown): string {
  const e = (entry ?? {}) as Record<string, unknown>
  const error = (e.error ?? {}) as Record<string, unknown>
  const key = [error.key, error.envVarKey, e.key, e.envVarKey].find(k => typeof k === 'string')
  return (key as string | undefined) ?? '(variable not named by Vercel)'
}

/**
 * A deployment as `GET /v13/deployments/{id}` (`id`) or a list (`uid`, `created`) describes it;
 * an upload not finished has no `url` yet.
 */
export function toDeployment(d: Record<string, unknown>): Deployment {
  const num = (v: unknown) => (typeof v === 'number' ? v : undefined)
  return {
    id: String(d.id ?? d.uid),
    url: typeof d.url === 'string' ? d.url : '',
    state: String(d.readyState ?? d.state),
    aliasAssigned: assigned(d.aliasAssigned),
    staged: d.readySubstate === 'STAGED',
    aliasError: (d.aliasError as Deployment['aliasError']) ?? undefined,
    errorMessage:
      typeof d.errorMessage === 'string'
        ? `${typeof d.errorCode === 'string' ? `${d.errorCode}: ` : ''}${d.errorMessage}`
        : undefined,
    createdAt: num(d.createdAt) ?? num(d.created),
    buildingAt: num(d.buildingAt),
    readyAt: num(d.ready),
    target: typeof d.target === 'string' ? d.target : undefined,
    commitSha: commitOf(d.meta),
    sealed: sealOf(d.meta)
  }
}

function sealOf(meta: unknown): string | undefined {
  const value = ((meta ?? {}) as Record<string, unknown>)[SEAL_FIELD]
  return typeof value === 'string' ? value : undefined
}

export class VercelProvider implements HostingProvider {
  readonly description: string
  private readonly http: HttpClient
  private readonly clock?: Clock
  private projectRead?: Promise<Project>
  private envList?: Promise<EnvEntry[]>
  private readonly decrypted = new Map<string, Promise<string | undefined>>()
  private readonly candidates = new Map<string, Promise<RollbackCandidate>>()
  private liveRead?: Promise<Deployment | undefined>

  constructor(private readonly options: VercelOptions) {
    this.clock = options.clock
    this.description = `vercel project ${options.project}${options.teamId ? ` (team ${options.teamId})` : ''}`
    this.http = new HttpClient({
      service: 'Vercel',
      baseUrl: options.apiUrl ?? VERCEL_API_URL,
      headers: { authorization: `Bearer ${options.token}` },
      query: teamScope(options.teamId),
      fetch: options.fetch,
      clock: options.clock,
      timeoutMs: 60_000,
      // Vercel's own client: other 5xx after 5 s, five tries in all.
      retry: { maxTries: 5, baseDelayMs: 5_000, maxBackoffMs: 30_000, jitterMs: 1_000 },
      errorShape: vercelErrorShape,
      mapError: e => this.mapError(e),
      log: options.log
    })
  }

  private mapError(error: HttpStatusError): RollbackError | undefined {
    const { status, api } = error
    const detail = `${status} ${api.code ?? 'error'}: ${api.message ?? 'no message'}`
    const scope = this.options.teamId ? `team ${this.options.teamId}` : 'the project owner'
    if (
      status === 401 ||
      (status === 403 && (api.details.invalidToken || api.details.missingToken))
    )
      return new RollbackError(
        `Vercel rejected the token (${detail})`,
        `Put a valid Vercel access token in ${this.options.tokenSource} (Account Settings > Tokens), scoped to ${scope}.`
      )
    if (status === 403)
      return new RollbackError(
        `Vercel refused ${error.what} (${detail})`,
        `The token in ${this.options.tokenSource} has no access to ${this.options.teamId ? `team ${this.options.teamId}` : 'this scope'}: create the token in that team, or fix hosting.team.`
      )
    if (status === 404 && /project/i.test(api.message ?? ''))
      return new RollbackError(
        `Vercel project \`${this.options.project}\` not found (${detail})`,
        this.options.teamId
          ? `Check hosting.project (id or name) and that it belongs to team ${this.options.teamId}.`
          : 'Check hosting.project; if the project belongs to a team, set hosting.team to the team id (team_...).'
      )
    if (api.code === 'ENV_CONFLICT')
      return new RollbackError(
        `Vercel would not upsert \`${failedKey({ error: api.details })}\`: it exists with a different set of targets (${detail})`,
        CONFLICT_HINT
      )
    if (status === 402)
      return new RollbackError(
        `Vercel refused ${error.what}: the plan does not allow it (${detail})`,
        `Do this step in the Vercel dashboard, or raise the plan of ${scope}; then rerun: the rollback converges on a rerun.`
      )
    if (status >= 400 && status < 500 && status !== 429)
      return new RollbackError(
        `Vercel refused ${error.what} (${detail})`,
        'Fix what Vercel names (the runbook hosting or flags section, or the project in the Vercel dashboard), then rerun.'
      )
    return undefined
  }

  private projectPath(suffix = '') {
    return `/projects/${encodeURIComponent(this.options.project)}${suffix}`
  }

  /** The project, read once (again only after a promote changed it); `call`: a poll's deadline. */
  private project(call: Call = {}): Promise<Project> {
    this.projectRead ??= this.http
      .json<{
        id: string
        name: string
        targets?: { production?: { id?: string } }
        autoAssignCustomDomains?: boolean
        lastAliasRequest?: AliasRequest | null
      }>('GET', `/v9${this.projectPath()}`, call)
      .then(body => ({
        id: body.id,
        name: body.name,
        productionId: body.targets?.production?.id,
        autoAssign: body.autoAssignCustomDomains !== false,
        lastAlias: body.lastAliasRequest ?? undefined
      }))
    // A failed read is not cached: the next caller asks again.
    this.projectRead.catch(() => (this.projectRead = undefined))
    return this.projectRead
  }

  async checkAccess(): Promise<void> {
    await this.project()
  }

  seal(text: string): string {
    return seal(this.options.token, text)
  }

  async autoAssignsProduction(): Promise<boolean> {
    return (await this.project()).autoAssign
  }

  async promote(id: string, call: Call = {}): Promise<void> {
    const project = await this.project(call)
    // Promoting the same deployment twice is harmless: any failure may be retried.
    await this.http.request(
      'POST',
      `/v10/projects/${encodeURIComponent(project.id)}/promote/${encodeURIComponent(id)}`,
      { ...call, retry: 'any-failure' }
    )
    this.productionChanged()
  }

  /**
   * One listing of READY production deployments (newest first), read until it holds both the live
   * one and one that qualifies: the live deployment comes from it too, so the instant path costs
   * no extra round trip before its first write.
   */
  rollbackCandidate(cutoff: Cutoff): Promise<RollbackCandidate> {
    const key = cutoff.label
    let found = this.candidates.get(key)
    if (!found) {
      found = this.listCandidate(cutoff)
      this.candidates.set(key, found)
      found.catch(() => this.candidates.delete(key))
    }
    return found
  }

  /** Production changed (rollback, promote, a new live build): read the project and list again. */
  private productionChanged(): void {
    this.projectRead = undefined
    this.liveRead = undefined
    this.candidates.clear()
  }

  private async listCandidate(cutoff: Cutoff): Promise<RollbackCandidate> {
    const project = await this.project()
    const seen: Deployment[] = []
    const isLive = (d: Deployment) =>
      project.productionId ? d.id === project.productionId : serving(d)
    const found = async (live = seen.find(isLive)): Promise<RollbackCandidate> => ({
      live,
      candidate: await newestQualifying(seen, cutoff, live)
    })
    await this.listDeployments(
      { projectId: project.id, target: 'production', state: 'READY' },
      async page => {
        seen.push(...page.map(d => toDeployment(d as Record<string, unknown>)))
        const { live, candidate } = await found()
        return live !== undefined && candidate !== undefined
      }
    )
    const listed = seen.find(isLive)
    // The live deployment is older than every listed page (or not READY-listed): ask for it.
    if (!listed && project.productionId)
      return found(await this.getDeployment(project.productionId))
    return found(listed)
  }

  /**
   * Production serves an Instant Rollback when Vercel's own record says so: the project's last
   * alias request is a rollback to the deployment production serves. Automatic assignment alone
   * proves nothing (a project can stage its production builds on purpose, its newest build never
   * released), so the rebuild starts from where production was before the rollback, never from
   * the newest build. No request unless assignment is off.
   */
  async rolledBack(): Promise<RolledBack | undefined> {
    const project = await this.project()
    const alias = project.lastAlias
    if (
      project.autoAssign ||
      !project.productionId ||
      alias?.type !== 'rollback' ||
      alias.toDeploymentId !== project.productionId ||
      !alias.fromDeploymentId ||
      alias.jobStatus === 'failed'
    )
      return undefined
    const [served, rebuildFrom] = await Promise.all([
      this.currentProductionDeployment(),
      this.getDeployment(alias.fromDeploymentId)
    ])
    return served && { served, rebuildFrom }
  }

  /** Instant Rollback, then watch `lastAliasRequest` until Vercel says it is done. */
  async rollBackTo(id: string, timeoutMs: number): Promise<void> {
    const project = await this.project()
    // Rolling back to the deployment already served changes nothing: any failure may be retried.
    await this.http.request(
      'POST',
      `/v1/projects/${encodeURIComponent(project.id)}/rollback/${encodeURIComponent(id)}`,
      { json: {}, retry: 'any-failure' }
    )
    await poll<void>({
      clock: this.clock ?? { now: Date.now, sleep: ms => new Promise(r => setTimeout(r, ms)) },
      timeoutMs,
      check: async look => {
        const state = await this.aliasJob(id, 'roll production back to', ROLLBACK_HINT, look)
        return state === 'done' ? { done: true, value: undefined } : { done: false, state }
      },
      timeoutError: (last, ms) =>
        new RollbackError(
          `the Instant Rollback to ${id} did not finish within ${formatDuration(ms)} (last state: ${last})`,
          'Watch it in the Vercel dashboard; raise flags.wait-timeout and rerun.'
        )
    })
  }

  /**
   * How the rollback or promote to `id` is going, from the project read afresh: `done` once the
   * alias job succeeded (or nothing was left to do and production serves `id`); throws when the
   * job failed or was skipped without moving production.
   */
  private async aliasJob(id: string, doing: string, hint: string, call: Call): Promise<string> {
    this.productionChanged()
    const project = await this.project(call)
    const job = project.lastAlias?.toDeploymentId === id ? project.lastAlias.jobStatus : undefined
    const serves = project.productionId === id
    if (job === 'succeeded' || (serves && (job === undefined || job === 'skipped'))) return 'done'
    if (job === 'failed' || job === 'skipped')
      throw new RollbackError(`Vercel could not ${doing} deployment ${id} (jobStatus ${job})`, hint)
    return job ?? 'requested'
  }

  /**
   * Every entry of the env list, without values decrypted; read once. The endpoint documents no
   * page parameter: one request holds the list, and an answer that says there is more fails.
   */
  private listEnv(): Promise<EnvEntry[]> {
    this.envList ??= readVercelList<EnvEntry>(
      this.http,
      `/v10${this.projectPath('/env')}`,
      'envs',
      {
        what: `the env list of ${this.description}`,
        capHint:
          'Vercel answered a next page the env endpoint has no parameter for: set these variables in the Vercel dashboard, and report the answer to the maintainers of this action.'
      }
    )
    this.envList.catch(() => (this.envList = undefined))
    return this.envList
  }

  /** The decrypted value of one encrypted variable (sensitive ones never come back). */
  private decrypt(id: string): Promise<string | undefined> {
    let value = this.decrypted.get(id)
    if (!value) {
      value = this.http
        .json<{ value?: unknown; decrypted?: unknown }>(
          'GET',
          `/v1${this.projectPath(`/env/${encodeURIComponent(id)}`)}`
        )
        // `decrypted: false`: the value is still ciphertext (the token may not decrypt it).
        .then(one =>
          typeof one.value === 'string' && one.decrypted !== false ? one.value : undefined
        )
      this.decrypted.set(id, value)
      value.catch(() => this.decrypted.delete(id))
    }
    return value
  }

  /**
   * The named variables (branch-specific entries aside). The list is read without decrypting, so
   * no other variable's value is fetched; the named encrypted ones are then decrypted concurrently.
   */
  async readEnv(keys: string[]): Promise<HostedEnv[]> {
    const wanted = (await this.listEnv()).filter(e => keys.includes(String(e.key)) && !e.gitBranch)
    return mapLimited(wanted, DECRYPT_CONCURRENCY, async e => ({
      id: String(e.id),
      key: String(e.key),
      value:
        e.type === 'encrypted'
          ? await this.decrypt(String(e.id))
          : e.type === 'plain' && typeof e.value === 'string'
            ? e.value
            : undefined,
      type: String(e.type),
      targets: toTargets(e.target),
      updatedAt: typeof e.updatedAt === 'number' ? e.updatedAt : undefined
    }))
  }

  async setEnv(values: Record<string, string>, targets: EnvTarget[]): Promise<EnvChange[]> {
    const keys = Object.keys(values)
    const current = await this.readEnv(keys)
    const changes: EnvChange[] = keys.map(key => {
      const old = current.find(e => e.key === key && sameTargets(e.targets, targets))
      return {
        key,
        targets,
        value: values[key]!,
        old: old && { value: old.value, type: old.type, readable: old.value !== undefined }
      }
    })
    const payload = changes.map(c => ({
      key: c.key,
      value: c.value,
      // Keep the variable's type; new ones are encrypted (Vercel's default).
      type: upsertType(c.old),
      target: targets
    }))
    // What we read is stale from here on, whatever the answer.
    this.envList = undefined
    this.decrypted.clear()
    const body = await this.http.json<{ failed?: unknown[] }>(
      'POST',
      `/v10${this.projectPath('/env')}`,
      // An upsert of the same values is idempotent: safe to repeat after any failure.
      { query: { upsert: 'true' }, json: payload, retry: 'any-failure' }
    )
    const failed = body.failed ?? []
    if (failed.length > 0) throw this.savedPartly(failed)
    return changes
  }

  private savedPartly(failed: unknown[]): RollbackError {
    const errors = failed.map(
      f => ((f ?? {}) as { error?: { code?: string; message?: string } }).error ?? {}
    )
    const list = failed
      .map((f, i) => `${failedKey(f)} (${errors[i]!.code ?? 'error'}: ${errors[i]!.message ?? ''})`)
      .join('; ')
    return new RollbackError(
      `Vercel answered 201 but did not save ${list}`,
      errors.some(e => e.code === 'ENV_CONFLICT')
        ? CONFLICT_HINT
        : 'Check the variable in the Vercel dashboard and rerun: variables already saved are not changed twice.'
    )
  }

  /** Read once until production changes. */
  currentProductionDeployment(): Promise<Deployment | undefined> {
    this.liveRead ??= this.readLive()
    this.liveRead.catch(() => (this.liveRead = undefined))
    return this.liveRead
  }

  private async readLive(): Promise<Deployment | undefined> {
    const project = await this.project()
    if (project.productionId) return this.getDeployment(project.productionId)
    const list = (
      await this.listDeployments(
        { projectId: project.id, target: 'production', state: 'READY' },
        page => page.some(d => serving(toDeployment(d as Record<string, unknown>)))
      )
    ).map(toDeployment)
    return list.find(serving) ?? list[0]
  }

  async pendingProductionDeployments(since: number): Promise<Deployment[]> {
    const project = await this.project()
    const list = await this.listDeployments({
      projectId: project.id,
      target: 'production',
      state: 'QUEUED,INITIALIZING,BUILDING,READY',
      since: String(since)
    })
    return list
      .map(toDeployment)
      .filter(d => (d.createdAt ?? 0) > since && !serving(d))
      .filter(d => !d.aliasError)
  }

  private listDeployments(
    query: Record<string, string>,
    stopWhen?: (page: unknown[]) => boolean | Promise<boolean>
  ): Promise<Array<Record<string, unknown>>> {
    return readVercelPages(this.http, '/v6/deployments', 'deployments', {
      what: `the production deployments of ${this.description}`,
      query: { ...query, limit: '100' },
      stopWhen
    })
  }

  async getDeployment(id: string, call: Call = {}): Promise<Deployment> {
    const body = await this.http.json<Record<string, unknown>>(
      'GET',
      `/v13/deployments/${encodeURIComponent(id)}`,
      call
    )
    return toDeployment(body)
  }

  async redeploy(from: Deployment, meta: Record<string, string>): Promise<Deployment> {
    const project = await this.project()
    const body = await this.http.json<Record<string, unknown>>('POST', '/v13/deployments', {
      query: { forceNew: '1' },
      json: {
        name: project.name,
        project: project.id,
        deploymentId: from.id,
        target: 'production',
        meta: { action: 'redeploy', ...meta }
      },
      // Creating a deployment is not idempotent: retry only what Vercel did not process.
      retry: 'rejected'
    })
    return toDeployment(body)
  }

  async waitForDeployment(id: string, options: WaitOptions): Promise<Deployment> {
    let promoted = false
    let lastState = ''
    return poll<Deployment>({
      clock: this.clock ?? { now: Date.now, sleep: ms => new Promise(r => setTimeout(r, ms)) },
      timeoutMs: options.timeoutMs,
      check: async look => {
        let d = await this.getDeployment(id, look)
        // A staged build may have its generated aliases assigned and still serve no production
        // domain: once READY it is promoted (which also turns automatic assignment back on), and
        // is live once Vercel says it is PROMOTED or the project's production deployment is it.
        if (options.promote && !promoted && d.state === 'READY' && !d.aliasError) {
          await this.promote(d.id, look)
          promoted = true
          d = await this.getDeployment(id, look)
        }
        const live =
          serving(d) ||
          (promoted && (await this.aliasJob(id, 'promote', PROMOTE_HINT, look)) === 'done')
        const state = `${d.state}${d.state === 'READY' ? `, ${readyPhase(d, live, promoted)}` : ''}`
        if (state !== lastState) options.onProgress?.(d)
        lastState = state
        this.failIfBroken(d)
        if (!live) return { done: false, state }
        // Production points elsewhere now: the project is read again when next asked.
        this.productionChanged()
        return { done: true, value: { ...d, aliasAssigned: true, staged: false } }
      },
      timeoutError: (last, timeoutMs) =>
        new RollbackError(
          `deployment ${id} not live after ${formatDuration(timeoutMs)} (last state: ${last})`,
          'It may still finish: watch it in the Vercel dashboard, or raise flags.wait-timeout and rerun.'
        )
    })
  }

  private failIfBroken(d: Deployment): void {
    if (d.aliasError)
      throw new RollbackError(
        `deployment ${d.id} built but its alias was not assigned: ${d.aliasError.code ?? ''} ${d.aliasError.message ?? ''}`.trim(),
        'Production still serves the previous deployment. Fix the domain in the Vercel dashboard and promote this deployment, or rerun.'
      )
    if (d.state === 'BLOCKED')
      throw new RollbackError(
        `deployment ${d.id} is BLOCKED: Vercel will not build it until someone approves it${d.errorMessage ? ` (${d.errorMessage})` : ''}`,
        'Production still serves the previous deployment. Approve the deployment in the Vercel dashboard (or lift what blocks it: Git fork protection, a paused project), then rerun: the variables are already set.'
      )
    if (['ERROR', 'CANCELED'].includes(d.state) || d.state.endsWith('_ERROR'))
      throw new RollbackError(
        `deployment ${d.id} ended ${d.state}${d.errorMessage ? `: ${d.errorMessage}` : ''}`,
        'Production still serves the previous deployment. Read the build log in the Vercel dashboard, fix it and rerun: the variables are already set.'
      )
  }
}
