/**
 * Vercel REST client behind the HostingProvider interface. fetch-based; every call carries the
 * team scope; errors become RollbackErrors that say what to fix; 429/503 wait for Retry-After
 * (clamped 5-60 s, plus jitter), other 5xx wait 5 s, five tries in all — like Vercel's own client.
 * All waiting goes through the injected sleep, so tests are fast and can assert the waits.
 */
import { RollbackError } from '../util/errors.js'
import type { Logger } from '../util/logger.js'
import { elapsedMs, formatDuration } from '../util/duration.js'
import {
  sameTargets,
  type Deployment,
  type EnvChange,
  type EnvTarget,
  type HostedEnv,
  type HostingProvider,
  type WaitOptions
} from './types.js'

export const VERCEL_API_URL = 'https://api.vercel.com'
export const MAX_TRIES = 5

export interface VercelOptions {
  apiUrl?: string
  token: string
  /** Project id or name. */
  project: string
  teamId?: string
  /** Where the token came from (an env variable name), for hints. Never the token. */
  tokenSource: string
  fetch: typeof fetch
  sleep(ms: number): Promise<void>
  log?: Logger
  /** 0 <= x < 1; jitter source (tests pin it). */
  random?: () => number
  now?: () => number
}

interface VercelErrorBody {
  error?: {
    code?: string
    message?: string
    key?: string
    invalidToken?: boolean
    missingToken?: boolean
    limit?: { remaining?: number; reset?: number; resetMs?: number; total?: number }
  }
}

interface Answer<T> {
  status: number
  body: T
}

/** The CLI's polling schedule: 1 s for 15 s, 5 s to 1 min, 15 s to 5 min, then 30 s. */
export function pollInterval(elapsedMs: number): number {
  if (elapsedMs < 15_000) return 1_000
  if (elapsedMs < 60_000) return 5_000
  if (elapsedMs < 300_000) return 15_000
  return 30_000
}

/** Wait before retry `status`: Retry-After clamped to 5-60 s plus up to 1 s jitter; 5 s for 5xx. */
export function retryDelay(
  status: number,
  retryAfter: string | null,
  random: () => number
): number | undefined {
  if (status === 429 || status === 503) {
    const seconds = Number(retryAfter)
    const base = Number.isFinite(seconds) && retryAfter !== null ? seconds : 5
    return Math.min(60, Math.max(5, base)) * 1000 + Math.floor(random() * 1000)
  }
  if (status >= 500) return 5_000
  return undefined
}

function toTargets(target: unknown): EnvTarget[] {
  const list = Array.isArray(target) ? target : typeof target === 'string' ? [target] : []
  return list.filter((t): t is EnvTarget => ['production', 'preview', 'development'].includes(t))
}

export class VercelProvider implements HostingProvider {
  readonly description: string
  private readonly apiUrl: string
  private readonly random: () => number
  private readonly now: () => number
  private projectId?: string
  private projectName?: string

  constructor(private readonly options: VercelOptions) {
    this.apiUrl = (options.apiUrl ?? VERCEL_API_URL).replace(/\/+$/, '')
    this.random = options.random ?? Math.random
    this.now = options.now ?? Date.now
    this.description = `vercel project ${options.project}${options.teamId ? ` (team ${options.teamId})` : ''}`
  }

  private async request<T>(
    method: string,
    path: string,
    opts: { query?: Record<string, string>; body?: unknown; retryAll5xx?: boolean } = {}
  ): Promise<Answer<T>> {
    const url = new URL(this.apiUrl + path)
    for (const [k, v] of Object.entries(opts.query ?? {})) url.searchParams.set(k, v)
    if (this.options.teamId) url.searchParams.set('teamId', this.options.teamId)
    const what = `${method} ${path}`
    let last = ''
    let tries = 0
    for (let attempt = 1; attempt <= MAX_TRIES; attempt++) {
      tries = attempt
      let response: Response
      try {
        response = await this.options.fetch(url, {
          method,
          headers: {
            authorization: `Bearer ${this.options.token}`,
            accept: 'application/json',
            ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {})
          },
          body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
          signal: AbortSignal.timeout(60_000)
        })
      } catch (err) {
        last = `cannot reach ${url.host}: ${err instanceof Error ? err.message : String(err)}`
        if (attempt === MAX_TRIES || opts.retryAll5xx === false) break
        this.options.log?.warn(
          `Vercel ${what}: ${last}; retrying in 5 s (try ${attempt}/${MAX_TRIES})`
        )
        await this.options.sleep(5_000)
        continue
      }
      const text = await response.text()
      let body: unknown
      try {
        body = text ? JSON.parse(text) : {}
      } catch {
        body = { error: { message: text.slice(0, 200) } }
      }
      if (response.ok) return { status: response.status, body: body as T }
      const error = (body as VercelErrorBody).error ?? {}
      const wait = retryDelay(response.status, response.headers.get('retry-after'), this.random)
      const retryable =
        wait !== undefined &&
        (opts.retryAll5xx !== false || response.status === 429 || response.status === 503)
      last = `${response.status} ${error.code ?? ''}: ${error.message ?? ''}`.trim()
      if (!retryable) throw this.mapError(what, response.status, error)
      if (attempt === MAX_TRIES) break
      this.options.log?.warn(
        `Vercel ${what}: ${last}; retrying in ${formatDuration(wait)} (try ${attempt}/${MAX_TRIES})`
      )
      await this.options.sleep(wait)
    }
    throw new RollbackError(
      `Vercel API ${what} still failing after ${tries} ${tries === 1 ? 'try' : 'tries'} (last: ${last})`,
      'Vercel is rate limiting or unavailable: check https://www.vercel-status.com and rerun; the rollback converges on a rerun.'
    )
  }

  private mapError(what: string, status: number, error: NonNullable<VercelErrorBody['error']>) {
    const detail = `${status} ${error.code ?? 'error'}: ${error.message ?? 'no message'}`
    const project = `\`${this.options.project}\``
    if (status === 403 && (error.invalidToken || error.missingToken))
      return new RollbackError(
        `Vercel rejected the token (${detail})`,
        `Put a valid Vercel access token in ${this.options.tokenSource} (Account Settings > Tokens), scoped to ${this.options.teamId ? `team ${this.options.teamId}` : 'the project owner'}.`
      )
    if (status === 403)
      return new RollbackError(
        `Vercel refused ${what} (${detail})`,
        `The token in ${this.options.tokenSource} has no access to ${this.options.teamId ? `team ${this.options.teamId}` : 'this scope'}: create the token in that team, or fix hosting.team.`
      )
    if (status === 404 && /project/i.test(error.message ?? ''))
      return new RollbackError(
        `Vercel project ${project} not found (${detail})`,
        this.options.teamId
          ? `Check hosting.project (id or name) and that it belongs to team ${this.options.teamId}.`
          : 'Check hosting.project; if the project belongs to a team, set hosting.team to the team id (team_...).'
      )
    if (error.code === 'ENV_CONFLICT')
      return new RollbackError(
        `Vercel would not upsert \`${error.key ?? '?'}\`: it exists with a different set of targets (${detail})`,
        'Make flags.targets equal to the targets of the existing variable, or split it in the Vercel dashboard first.'
      )
    return new RollbackError(`Vercel API ${what} failed (${detail})`)
  }

  private enc(s: string) {
    return encodeURIComponent(s)
  }

  private async project(): Promise<{
    id: string
    name: string
    productionId?: string
    autoAssign: boolean
  }> {
    const { body } = await this.request<{
      id: string
      name: string
      targets?: { production?: { id?: string } }
      autoAssignCustomDomains?: boolean
    }>('GET', `/v9/projects/${this.enc(this.options.project)}`)
    this.projectId = body.id
    this.projectName = body.name
    return {
      id: body.id,
      name: body.name,
      productionId: body.targets?.production?.id,
      autoAssign: body.autoAssignCustomDomains !== false
    }
  }

  async autoAssignsProduction(): Promise<boolean> {
    return (await this.project()).autoAssign
  }

  async promote(id: string): Promise<void> {
    if (!this.projectId) await this.project()
    await this.request(
      'POST',
      `/v10/projects/${this.enc(this.projectId!)}/promote/${this.enc(id)}`,
      {
        retryAll5xx: false
      }
    )
  }

  async checkAccess(): Promise<void> {
    await this.project()
  }

  /**
   * Lists without decrypting (so no other variable's value is ever fetched), then reads the
   * decrypted value of just the named variables, one by one.
   */
  async readEnv(keys: string[]): Promise<HostedEnv[]> {
    const project = this.enc(this.options.project)
    const { body } = await this.request<{ envs?: Array<Record<string, unknown>> }>(
      'GET',
      `/v10/projects/${project}/env`
    )
    const wanted = (body.envs ?? []).filter(e => keys.includes(String(e.key)) && !e.gitBranch)
    const result: HostedEnv[] = []
    for (const e of wanted) {
      let value = e.type === 'plain' && typeof e.value === 'string' ? e.value : undefined
      if (e.type === 'encrypted') {
        const { body: one } = await this.request<{ value?: unknown }>(
          'GET',
          `/v1/projects/${project}/env/${this.enc(String(e.id))}`
        )
        value = typeof one.value === 'string' ? one.value : undefined
      }
      result.push({
        id: String(e.id),
        key: String(e.key),
        value,
        type: String(e.type),
        targets: toTargets(e.target),
        updatedAt: typeof e.updatedAt === 'number' ? e.updatedAt : undefined
      })
    }
    return result
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
      type: c.old && c.old.type !== 'system' ? c.old.type : 'encrypted',
      target: targets
    }))
    const { body } = await this.request<{
      failed?: Array<{ error?: { code?: string; message?: string; key?: string } }>
    }>('POST', `/v10/projects/${this.enc(this.options.project)}/env`, {
      query: { upsert: 'true' },
      body: payload
    })
    const failed = body.failed ?? []
    if (failed.length > 0) {
      const list = failed
        .map(f => `${f.error?.key ?? '?'} (${f.error?.code ?? 'error'}: ${f.error?.message ?? ''})`)
        .join('; ')
      const conflict = failed.some(f => f.error?.code === 'ENV_CONFLICT')
      throw new RollbackError(
        `Vercel answered 201 but did not save ${list}`,
        conflict
          ? 'Make flags.targets equal to the targets of the existing variable, or split it in the Vercel dashboard first.'
          : 'Check the variable in the Vercel dashboard and rerun: variables already saved are not changed twice.'
      )
    }
    return changes
  }

  async currentProductionDeployment(): Promise<Deployment | undefined> {
    const project = await this.project()
    if (project.productionId) return this.getDeployment(project.productionId)
    const { body } = await this.request<{ deployments?: Array<Record<string, unknown>> }>(
      'GET',
      '/v6/deployments',
      { query: { projectId: project.id, target: 'production', state: 'READY', limit: '20' } }
    )
    const list = (body.deployments ?? []).map(d => this.fromList(d))
    return list.find(d => d.aliasAssigned) ?? list[0]
  }

  async pendingProductionDeployments(since: number): Promise<Deployment[]> {
    const project = await this.project()
    const { body } = await this.request<{ deployments?: Array<Record<string, unknown>> }>(
      'GET',
      '/v6/deployments',
      {
        query: {
          projectId: project.id,
          target: 'production',
          state: 'QUEUED,INITIALIZING,BUILDING,READY',
          since: String(since),
          limit: '20'
        }
      }
    )
    return (body.deployments ?? [])
      .map(d => this.fromList(d))
      .filter(d => (d.createdAt ?? 0) > since && !(d.state === 'READY' && d.aliasAssigned))
      .filter(d => !d.aliasError)
  }

  private fromList(d: Record<string, unknown>): Deployment {
    return {
      id: String(d.uid),
      url: String(d.url),
      state: String(d.readyState ?? d.state),
      aliasAssigned: d.aliasAssigned === true,
      aliasError: (d.aliasError as Deployment['aliasError']) ?? undefined,
      createdAt: Number(d.createdAt ?? d.created),
      buildingAt: typeof d.buildingAt === 'number' ? d.buildingAt : undefined,
      target: typeof d.target === 'string' ? d.target : undefined
    }
  }

  private fromV13(d: Record<string, unknown>): Deployment {
    return {
      id: String(d.id),
      url: String(d.url),
      state: String(d.readyState),
      aliasAssigned: d.aliasAssigned === true,
      aliasError: (d.aliasError as Deployment['aliasError']) ?? undefined,
      errorMessage:
        typeof d.errorMessage === 'string'
          ? `${typeof d.errorCode === 'string' ? `${d.errorCode}: ` : ''}${d.errorMessage}`
          : undefined,
      createdAt: typeof d.createdAt === 'number' ? d.createdAt : undefined,
      buildingAt: typeof d.buildingAt === 'number' ? d.buildingAt : undefined,
      target: typeof d.target === 'string' ? d.target : undefined
    }
  }

  async getDeployment(id: string): Promise<Deployment> {
    const { body } = await this.request<Record<string, unknown>>(
      'GET',
      `/v13/deployments/${this.enc(id)}`
    )
    return this.fromV13(body)
  }

  async redeploy(from: Deployment, meta: Record<string, string>): Promise<Deployment> {
    if (!this.projectName || !this.projectId) await this.project()
    const { body } = await this.request<Record<string, unknown>>('POST', '/v13/deployments', {
      query: { forceNew: '1' },
      body: {
        name: this.projectName,
        project: this.projectId,
        deploymentId: from.id,
        target: 'production',
        meta: { action: 'redeploy', ...meta }
      },
      // Creating a deployment is not idempotent: retry only what Vercel did not process.
      retryAll5xx: false
    })
    return this.fromV13(body)
  }

  async waitForDeployment(id: string, options: WaitOptions): Promise<Deployment> {
    const started = this.now()
    let slept = 0
    let lastState = ''
    let promoted = false
    for (;;) {
      const d = await this.getDeployment(id)
      if (
        options.promote &&
        !promoted &&
        d.state === 'READY' &&
        !d.aliasAssigned &&
        !d.aliasError
      ) {
        await this.promote(d.id)
        promoted = true
        continue
      }
      const stateText = `${d.state}${d.state === 'READY' ? (d.aliasAssigned ? ', alias assigned' : ', alias pending') : ''}`
      if (stateText !== lastState) options.onProgress?.(d)
      lastState = stateText
      if (d.aliasError)
        throw new RollbackError(
          `deployment ${d.id} built but its alias was not assigned: ${d.aliasError.code ?? ''} ${d.aliasError.message ?? ''}`.trim(),
          'Production still serves the previous deployment. Fix the domain in the Vercel dashboard and promote this deployment, or rerun.'
        )
      if (['ERROR', 'CANCELED'].includes(d.state) || d.state.endsWith('_ERROR'))
        throw new RollbackError(
          `deployment ${d.id} ended ${d.state}${d.errorMessage ? `: ${d.errorMessage}` : ''}`,
          'Production still serves the previous deployment. Read the build log in the Vercel dashboard, fix it and rerun: the variables are already set.'
        )
      if (d.state === 'READY' && d.aliasAssigned) return d
      // Virtual time (sum of sleeps) plus real time: bounded both under test and for real.
      const elapsed = elapsedMs(started, slept, this.now())
      if (elapsed >= options.timeoutMs)
        throw new RollbackError(
          `deployment ${d.id} not live after ${formatDuration(options.timeoutMs)} (last state: ${stateText})`,
          'It may still finish: watch it in the Vercel dashboard, or raise flags.wait-timeout and rerun.'
        )
      const wait = Math.min(pollInterval(elapsed), Math.max(options.timeoutMs - elapsed, 0))
      await this.options.sleep(wait)
      slept += wait
    }
  }
}
