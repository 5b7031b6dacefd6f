/**
 * Netlify REST client behind the HostingProvider interface. Variables are account environment
 * variables scoped to the site, one value per deploy context; a redeploy is a production build
 * without cache; a deploy is live when it is ready and is the site's published deploy. Netlify
 * has no idempotency keys, so a request that creates something (a build, a variable) is retried
 * only when Netlify certainly did not process it (429).
 */
import { RollbackError } from '../util/errors.js'
import type { Logger } from '../util/logger.js'
import { formatDuration } from '../util/duration.js'
import {
  poll,
  readLinkedPages,
  systemClock,
  type Clock,
  type FetchLike,
  type HttpClient,
  type RetryWhen
} from '../http/index.js'
import { newestQualifying } from './cutoff.js'
import type {
  Cutoff,
  Deployment,
  EnvChange,
  EnvTarget,
  HostedEnv,
  HostingProvider,
  RollbackCandidate,
  RolledBack,
  WaitOptions
} from './types.js'
import { netlifyClient } from './netlify-http.js'
import { seal, SEAL_FIELD } from './seal.js'

const SEALED = new RegExp(`\\b${SEAL_FIELD}=([0-9a-f]+)`)

export const NETLIFY_API_URL = 'https://api.netlify.com/api/v1'

type Context = 'all' | 'production' | 'deploy-preview' | 'branch-deploy' | 'dev'

/** The deploy contexts a runbook target stands for (Vercel's "preview" is every non-production deploy). */
export const CONTEXTS_OF: Record<EnvTarget, Context[]> = {
  production: ['production'],
  preview: ['deploy-preview', 'branch-deploy'],
  development: ['dev']
}
const EVERY_CONTEXT: Context[] = ['production', 'deploy-preview', 'branch-deploy', 'dev']

/** Deploy lists are read page by page up to this many pages (100 deploys each). */
export const MAX_DEPLOY_PAGES = 10

export interface NetlifyOptions {
  apiUrl?: string
  token: string
  /** Site id, or its `<name>.netlify.app` domain. */
  site: string
  /** Account slug or id that owns the variables; defaults to the site's account. */
  account?: string
  /** Where the token came from (an env variable name), for hints. Never the token. */
  tokenSource: string
  fetch?: FetchLike
  /** All waiting and time (tests make it instant and pin the jitter). */
  clock?: Clock
  log?: Logger
}

interface Call {
  query?: Record<string, string>
  json?: unknown
  /** Netlify has no idempotency keys: a call that creates something is repeated only when refused. */
  retry?: RetryWhen
  /** The deadline of the poll the call is part of. */
  deadline?: number
}

/** A request's bound: the deadline of the poll it is part of. */
type Bound = Pick<Call, 'deadline'>

interface EnvValue {
  id?: string
  value?: string
  context: string
  context_parameter?: string
}

export interface NetlifyEnvVar {
  key: string
  scopes?: string[]
  values: EnvValue[]
  is_secret?: boolean
  updated_at?: string
}

export interface NetlifyDeploy {
  id: string
  state: string
  context?: string
  deploy_ssl_url?: string
  deploy_url?: string
  ssl_url?: string
  error_message?: string | null
  created_at?: string
  published_at?: string | null
  locked?: boolean | null
  title?: string | null
  commit_ref?: string | null
}

interface NetlifySite {
  id: string
  name: string
  account_slug?: string
  account_id?: string
  published_deploy?: NetlifyDeploy | null
}

const STATE: Record<string, string> = {
  new: 'QUEUED',
  pending_review: 'QUEUED',
  accepted: 'QUEUED',
  enqueued: 'QUEUED',
  retrying: 'QUEUED',
  ready: 'READY',
  error: 'ERROR',
  rejected: 'CANCELED'
}

/** The value a context resolves to: its own value, else the one for all contexts. */
function resolve(v: NetlifyEnvVar, context: Context): EnvValue | undefined {
  return v.values.find(x => x.context === context) ?? v.values.find(x => x.context === 'all')
}

/** One entry per runbook target that has a value (Netlify values are per context, independent). */
export function hostedEntries(v: NetlifyEnvVar): HostedEnv[] {
  const updatedAt = v.updated_at ? Date.parse(v.updated_at) : undefined
  const entries: HostedEnv[] = []
  for (const target of Object.keys(CONTEXTS_OF) as EnvTarget[]) {
    const found = CONTEXTS_OF[target].map(c => resolve(v, c))
    if (found.every(x => x === undefined)) continue
    const values = new Set(found.map(x => x?.value))
    entries.push({
      id: `${v.key}@${target}`,
      key: v.key,
      // Secrets are readable only in dev; contexts of one target that differ have no one value.
      value: values.size === 1 ? [...values][0] : undefined,
      type: v.is_secret ? 'secret' : 'plain',
      targets: [target],
      updatedAt
    })
  }
  return entries
}

export class NetlifyProvider implements HostingProvider {
  readonly description: string
  private readonly apiUrl: string
  private readonly clock: Clock
  private readonly http: HttpClient
  private siteRead?: Promise<NetlifySite>
  /** Variables read, by key (undefined: not set), until this instance changes them. */
  private readonly vars = new Map<string, Promise<NetlifyEnvVar | undefined>>()
  /** Instant rollback listings, by cutoff, until this instance changes what is published. */
  private readonly candidates = new Map<string, Promise<RollbackCandidate>>()

  constructor(private readonly options: NetlifyOptions) {
    this.apiUrl = (options.apiUrl ?? NETLIFY_API_URL).replace(/\/+$/, '')
    this.description = `netlify site ${options.site}`
    const clock = options.clock ?? systemClock
    this.clock = clock
    this.http = netlifyClient({
      apiUrl: this.apiUrl,
      token: options.token,
      tokenSource: options.tokenSource,
      site: options.site,
      fetch: options.fetch,
      clock,
      log: options.log
    })
  }

  private json<T>(method: string, path: string, call: Call = {}): Promise<T> {
    return this.http.json<T>(method, path, call)
  }

  private sitePath(suffix = '') {
    return `/sites/${encodeURIComponent(this.options.site)}${suffix}`
  }

  /** The site, read once until this instance changes what is published (freshSite() re-reads). */
  private site(bound: Bound = {}): Promise<NetlifySite> {
    this.siteRead ??= this.json<NetlifySite>('GET', this.sitePath(), bound)
    // A failed read is not cached: the next caller asks again.
    this.siteRead.catch(() => (this.siteRead = undefined))
    return this.siteRead
  }

  /** The site read again: its published deploy changes while a build finishes. */
  private freshSite(bound: Bound = {}): Promise<NetlifySite> {
    this.siteRead = undefined
    return this.site(bound)
  }

  private async envPath(key?: string): Promise<{ path: string; query: Record<string, string> }> {
    const site = await this.site()
    const account = this.options.account ?? site.account_slug ?? site.account_id ?? ''
    const suffix = key === undefined ? '' : `/${encodeURIComponent(key)}`
    return {
      path: `/accounts/${encodeURIComponent(account)}/env${suffix}`,
      query: { site_id: site.id }
    }
  }

  private toDeployment(d: NetlifyDeploy, publishedId: string | undefined): Deployment {
    const url = d.deploy_ssl_url ?? d.deploy_url ?? d.ssl_url ?? ''
    const state = STATE[d.state] ?? (d.state === 'ready' ? 'READY' : 'BUILDING')
    return {
      id: d.id,
      url: url.replace(/^https?:\/\//, ''),
      state,
      aliasAssigned: state === 'READY' && d.id === publishedId,
      // Never published: built while auto publishing was locked (unreleased).
      staged: state === 'READY' && !d.published_at && d.id !== publishedId,
      errorMessage: d.error_message ?? undefined,
      createdAt: d.created_at ? Date.parse(d.created_at) : undefined,
      target: d.context,
      commitSha: d.commit_ref ?? undefined,
      // The build's title carries the meta this tool gave it (Netlify has no meta on deploys).
      sealed: SEALED.exec(d.title ?? '')?.[1]
    }
  }

  async checkAccess(): Promise<void> {
    await this.site()
  }

  seal(text: string): string {
    return seal(this.options.token, text)
  }

  /**
   * The named variables, one GET each (a 404 means not set), read once until this instance
   * changes them: no other variable is read.
   */
  private async readVars(keys: string[]): Promise<Map<string, NetlifyEnvVar>> {
    const found = new Map<string, NetlifyEnvVar>()
    await Promise.all(
      keys.map(async key => {
        const value = await this.readVar(key)
        if (value) found.set(key, value)
      })
    )
    return found
  }

  private readVar(key: string): Promise<NetlifyEnvVar | undefined> {
    let read = this.vars.get(key)
    if (!read) {
      read = this.envPath(key).then(async ({ path, query }) => {
        const answer = await this.http.request('GET', path, { query, accept: [404] })
        return answer.status === 404 ? undefined : answer.json<NetlifyEnvVar>()
      })
      this.vars.set(key, read)
      read.catch(() => this.vars.delete(key))
    }
    return read
  }

  async readEnv(keys: string[]): Promise<HostedEnv[]> {
    const vars = await this.readVars(keys)
    return keys.flatMap(k => (vars.has(k) ? hostedEntries(vars.get(k)!) : []))
  }

  async setEnv(values: Record<string, string>, targets: EnvTarget[]): Promise<EnvChange[]> {
    const keys = Object.keys(values)
    const current = await this.readVars(keys)
    const contexts = [...new Set(targets.flatMap(t => CONTEXTS_OF[t]))]
    const changes = keys.map(key => this.change(key, values[key]!, targets, current.get(key)))
    const created = keys.filter(k => !current.has(k))
    // What we read is stale from here on, whatever the answers.
    this.vars.clear()
    if (created.length > 0) {
      const { path, query } = await this.envPath()
      await this.json('POST', path, {
        query,
        json: created.map(key => ({
          key,
          values: contexts.map(context => ({ context, value: values[key] }))
        })),
        retry: 'rejected'
      })
    }
    for (const [key, existing] of current) await this.update(existing, values[key]!, contexts)
    return changes
  }

  private change(
    key: string,
    value: string,
    targets: EnvTarget[],
    existing?: NetlifyEnvVar
  ): EnvChange {
    if (!existing) return { key, targets, value }
    const entries = hostedEntries(existing).filter(e => targets.includes(e.targets[0]!))
    const olds = new Set(entries.map(e => e.value))
    const old = olds.size === 1 ? [...olds][0] : undefined
    return {
      key,
      targets,
      value,
      old: {
        value: old,
        type: existing.is_secret ? 'secret' : 'plain',
        readable: old !== undefined
      }
    }
  }

  /**
   * Per-context values are PATCHed one context at a time (other contexts untouched). A variable
   * with one value for all contexts is PATCHed as `all` when every context changes, else its
   * values are replaced (PUT) by one per context, the old value kept where the runbook does not
   * set it.
   */
  private async update(existing: NetlifyEnvVar, value: string, contexts: Context[]) {
    const { path, query } = await this.envPath(existing.key)
    const shared = existing.values.find(v => v.context === 'all')
    const everyContext = EVERY_CONTEXT.every(c => contexts.includes(c))
    if (shared && !everyContext) {
      if (shared.value === undefined)
        throw new RollbackError(
          `${existing.key} on ${this.description} has one value for all contexts that cannot be read, so it cannot be split per context`,
          'Set flags.targets to [production, preview, development], or give the variable per-context values in the Netlify UI first.'
        )
      const split = EVERY_CONTEXT.map(context => ({
        context,
        value: contexts.includes(context) ? value : shared.value
      }))
      await this.json('PUT', path, {
        query,
        json: {
          key: existing.key,
          scopes: existing.scopes,
          is_secret: existing.is_secret,
          values: split
        }
      })
      return
    }
    // Setting a context's value twice is harmless: PATCH may be repeated.
    for (const context of shared ? (['all'] as Context[]) : contexts)
      await this.json('PATCH', path, { query, json: { context, value }, retry: 'any-failure' })
  }

  async currentProductionDeployment(): Promise<Deployment | undefined> {
    const site = await this.site()
    const live = site.published_deploy
    return live ? this.toDeployment(live, live.id) : undefined
  }

  /**
   * Production deploys, newest first, following the `Link` header page by page until `stop`
   * says enough or MAX_DEPLOY_PAGES were read.
   */
  async productionDeploys(
    stop: (page: NetlifyDeploy[]) => boolean | Promise<boolean>
  ): Promise<NetlifyDeploy[]> {
    return readLinkedPages(this.http, this.sitePath('/deploys'), body => body as NetlifyDeploy[], {
      what: `the production deploys of ${this.description}`,
      maxPages: MAX_DEPLOY_PAGES,
      query: { production: 'true', per_page: '100' },
      stopWhen: page => stop(page as NetlifyDeploy[]),
      capHint: 'Give a more recent time to look back to, or delete old deploys in the Netlify UI.'
    })
  }

  async pendingProductionDeployments(since: number): Promise<Deployment[]> {
    const created = (d: NetlifyDeploy) => (d.created_at ? Date.parse(d.created_at) : 0)
    const deploys = await this.productionDeploys(page => page.some(d => created(d) <= since))
    // Read after the list: a deploy that became ready meanwhile is then seen as published.
    const site = await this.freshSite()
    const live = site.published_deploy
    // Still building, or built after the live deploy and waiting to be published (locked).
    const onItsWay = (d: Deployment) =>
      !['READY', 'ERROR', 'CANCELED'].includes(d.state) ||
      (d.state === 'READY' && !d.aliasAssigned && (d.createdAt ?? 0) > created(live ?? d))
    return deploys
      .filter(d => created(d) > since)
      .map(d => this.toDeployment(d, live?.id))
      .filter(onItsWay)
  }

  /** The newest ready production deploy created before `before` (epoch ms): a restore target. */
  async lastDeployBefore(before: number): Promise<Deployment | undefined> {
    const live = await this.currentProductionDeployment()
    return this.lastQualifying({ label: `created before ${before}`, before }, live)
  }

  /** The newest ready production deploy that qualifies, reading pages until one does. */
  private async lastQualifying(cutoff: Cutoff, live?: Deployment) {
    let found: Deployment | undefined
    await this.productionDeploys(async page => {
      const deploys = page.map(d => this.toDeployment(d, live?.id))
      found = await newestQualifying(deploys, cutoff, live)
      return found !== undefined
    })
    return found
  }

  async getDeployment(id: string, bound: Bound = {}): Promise<Deployment> {
    const body = await this.json<NetlifyDeploy>('GET', `/deploys/${encodeURIComponent(id)}`, bound)
    const publishedId =
      body.state === 'ready' ? (await this.freshSite(bound)).published_deploy?.id : undefined
    return this.toDeployment(body, publishedId)
  }

  /**
   * A fresh production build of the branch head (build cache cleared: client-side values are
   * compiled in). Netlify has no rebuild of a given deploy: rolledBack() refuses when the branch
   * head was never published.
   */
  async redeploy(_from: Deployment, meta: Record<string, string>): Promise<Deployment> {
    const title = Object.entries(meta)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')
    // Once built it may be published by itself: what was read about production goes stale.
    this.publishedChanged()
    const body = await this.json<{ deploy_id: string }>('POST', this.sitePath('/builds'), {
      query: { clear_cache: 'true', title: `emergency rollback ${title}`.trim() },
      retry: 'rejected'
    })
    return this.getDeployment(body.deploy_id)
  }

  /** false when auto publishing is locked: new production deploys wait to be published. */
  async autoAssignsProduction(): Promise<boolean> {
    const site = await this.site()
    return site.published_deploy?.locked !== true
  }

  /** What is published changes (publish, lock, a build): read the site and list again. */
  private publishedChanged(): void {
    this.siteRead = undefined
    this.candidates.clear()
  }

  /** Publishing a deploy that is already published changes nothing: it may be repeated. */
  private async publish(id: string, bound: Bound = {}): Promise<void> {
    this.publishedChanged()
    await this.json('POST', this.sitePath(`/deploys/${encodeURIComponent(id)}/restore`), {
      ...bound,
      retry: 'any-failure'
    })
  }

  /** Locks or unlocks auto publishing on the published deploy `id`; repeating it is harmless. */
  private async lock(id: string, how: 'lock' | 'unlock', bound: Bound = {}): Promise<void> {
    this.publishedChanged()
    await this.json('POST', `/deploys/${encodeURIComponent(id)}/${how}`, {
      ...bound,
      retry: 'any-failure'
    })
  }

  /** Publishes `id` and turns auto publishing back on. */
  async promote(id: string, bound: Bound = {}): Promise<void> {
    await this.publish(id, bound)
    await this.lock(id, 'unlock', bound)
  }

  /**
   * The fast path: publishes an earlier ready deploy again, no build, and locks auto publishing
   * so the next push does not replace it (promote() unlocks).
   */
  async restore(id: string): Promise<void> {
    await this.publish(id)
    await this.lock(id, 'lock')
  }

  /** The published deploy and the newest one that qualifies, listed once per cutoff. */
  rollbackCandidate(cutoff: Cutoff): Promise<RollbackCandidate> {
    let found = this.candidates.get(cutoff.label)
    if (!found) {
      found = this.currentProductionDeployment().then(async live => ({
        live,
        candidate: await this.lastQualifying(cutoff, live)
      }))
      this.candidates.set(cutoff.label, found)
      found.catch(() => this.candidates.delete(cutoff.label))
    }
    return found
  }

  /**
   * Auto publishing is locked and the published deploy is older than the newest ready production
   * deploy, which was published before: a restore (ours or a person's). Netlify builds the branch
   * head whatever `rebuildFrom` says, so when that newest deploy was never published (built while
   * locked: unreleased code) a rebuild would ship it: refused, naming the fix.
   */
  async rolledBack(): Promise<RolledBack | undefined> {
    const published = (await this.site()).published_deploy
    if (!published || published.locked !== true) return undefined
    const ready = (d: NetlifyDeploy) => d.state === 'ready'
    const newest = (await this.productionDeploys(page => page.some(ready))).find(ready)
    if (!newest || newest.id === published.id) return undefined
    if (!newest.published_at) throw this.unreleasedHead(published, newest)
    return {
      served: this.toDeployment(published, published.id),
      rebuildFrom: this.toDeployment(newest, published.id)
    }
  }

  private unreleasedHead(published: NetlifyDeploy, newest: NetlifyDeploy): RollbackError {
    const commit = (d: NetlifyDeploy) => (d.commit_ref ? ` (commit ${d.commit_ref})` : '')
    return new RollbackError(
      `${this.description} publishes deploy ${published.id}${commit(published)} with auto publishing locked, but the newest production deploy ${newest.id}${commit(newest)} was never published: a redeploy builds the branch head, which would ship that unreleased code`,
      `Publish ${newest.id} in the Netlify UI (Deploys) if it is meant to be live, or move the production branch back to the commit production serves; then rerun.`
    )
  }

  async rollBackTo(id: string): Promise<void> {
    await this.restore(id)
  }

  async waitForDeployment(id: string, options: WaitOptions): Promise<Deployment> {
    let promoted = false
    let latest: Deployment | undefined
    const look = async (bound: Bound): Promise<Deployment> => {
      const d = await this.getDeployment(id, bound)
      if (!options.promote || promoted || d.state !== 'READY' || d.aliasAssigned) return d
      await this.promote(d.id, bound)
      promoted = true
      return this.getDeployment(id, bound)
    }
    return poll<Deployment>({
      clock: this.clock,
      timeoutMs: options.timeoutMs,
      check: async bound => {
        const d = (latest = await look(bound))
        if (d.state === 'ERROR' || d.state === 'CANCELED')
          throw new RollbackError(
            `deploy ${d.id} ended ${d.state}${d.errorMessage ? `: ${d.errorMessage}` : ''}`,
            'Production still serves the previous deploy. Read the deploy log in the Netlify UI, fix it and rerun: the variables are already set.'
          )
        if (d.state === 'READY' && d.aliasAssigned) {
          options.onProgress?.(d)
          return { done: true, value: d }
        }
        return {
          done: false,
          state: `${d.state}${d.state === 'READY' ? ', not published' : ''}`
        }
      },
      onState: () => options.onProgress?.(latest!),
      timeoutError: (last, timeoutMs) =>
        new RollbackError(
          `deploy ${id} not live after ${formatDuration(timeoutMs)} (last state: ${last})`,
          'It may still finish: watch it in the Netlify UI (Deploys), or raise flags.wait-timeout and rerun.'
        )
    })
  }
}
