/**
 * Hosting through GitHub itself: the flags are repository Actions variables and a deploy is a
 * dispatch of the deploy workflow, watched until its run completes. Changing a variable deploys
 * nothing by itself, and GITHUB_TOKEN cannot write variables (a fine-grained token or App with
 * "Variables: write" is needed): the errors say so. Speaks to the REST API through src/http
 * (not src/github, which serves notify and ChatOps); the variable list is read once per instance.
 */
import { RollbackError } from '../util/errors.js'
import type { Logger } from '../util/logger.js'
import { formatDuration } from '../util/duration.js'
import {
  githubErrorShape,
  HttpClient,
  poll,
  readLinkedPages,
  systemClock,
  type Clock,
  type FetchLike,
  type HttpStatusError
} from '../http/index.js'
import type {
  Deployment,
  EnvChange,
  EnvTarget,
  HostedEnv,
  HostingProvider,
  WaitOptions
} from './types.js'

export interface GitHubVariablesOptions {
  apiUrl: string
  token: string
  /** owner/repo */
  project: string
  workflow: string
  ref: string
  /** Where the token came from, for hints. Never the token. */
  tokenSource?: string
  fetch?: FetchLike
  clock?: Clock
  log?: Logger
}

interface Run {
  id: number
  status: string
  conclusion: string | null
  created_at: string
  run_started_at?: string
  html_url: string
  head_branch?: string
}

interface Variable {
  name: string
  value: string
  updated_at?: string
}

/** How long a dispatched run may take to appear in the runs list. */
const DISPATCH_APPEAR_MS = 30_000

export class GitHubVariablesProvider implements HostingProvider {
  readonly description: string
  private readonly http: HttpClient
  private readonly clock: Clock
  private variables?: Promise<Variable[]>

  constructor(private readonly options: GitHubVariablesOptions) {
    this.clock = options.clock ?? systemClock
    this.description = `GitHub repository ${options.project} (Actions variables, workflow ${options.workflow} on ${options.ref})`
    this.http = new HttpClient({
      service: 'GitHub',
      baseUrl: options.apiUrl,
      headers: {
        authorization: `Bearer ${options.token}`,
        accept: 'application/vnd.github+json',
        'x-github-api-version': '2022-11-28'
      },
      fetch: options.fetch,
      clock: this.clock,
      errorShape: githubErrorShape,
      mapError: e => this.mapError(e),
      log: options.log
    })
  }

  private mapError(error: HttpStatusError): RollbackError | undefined {
    const detail = `${error.status} ${error.api.message ?? 'no message'}`
    const source = this.options.tokenSource ?? 'the hosting-token input'
    if (error.status === 401)
      return new RollbackError(
        `GitHub rejected the token (${detail})`,
        `Put a valid fine-grained token with "Variables: write" and "Actions: write" in ${source}.`
      )
    if (error.status === 403 && /not accessible by integration/i.test(error.api.message ?? ''))
      return new RollbackError(
        `GitHub refused ${error.what}: the token lacks a permission (${detail})`,
        /variables/.test(error.what)
          ? 'GITHUB_TOKEN cannot write Actions variables: use a fine-grained token or App with "Variables: write".'
          : `The token in ${source} needs "Actions: write" to dispatch the deploy workflow.`
      )
    if (error.status === 404)
      return new RollbackError(
        `GitHub ${error.what}: not found (${detail})`,
        'Check hosting.project (owner/repo) and hosting.workflow; a token without access also gets 404.'
      )
    return undefined
  }

  private path(suffix: string): string {
    return `/repos/${this.options.project}${suffix}`
  }

  private workflowPath(suffix: string): string {
    return this.path(`/actions/workflows/${encodeURIComponent(this.options.workflow)}${suffix}`)
  }

  /** The first page of the workflow's runs (newest first): enough to find a new or pending one. */
  /** `deadline`: the poll's, when a poll asks. */
  private async runs(query: Record<string, string>, deadline?: number): Promise<Run[]> {
    const body = await this.http.json<{ workflow_runs?: Run[] }>(
      'GET',
      this.workflowPath('/runs'),
      { query, deadline }
    )
    return body.workflow_runs ?? []
  }

  private toDeployment(run: Run): Deployment {
    const completed = run.status === 'completed'
    const ok = completed && run.conclusion === 'success'
    return {
      id: String(run.id),
      url: run.html_url.replace(/^https?:\/\//, ''),
      state: ok ? 'READY' : completed ? 'ERROR' : run.status === 'queued' ? 'QUEUED' : 'BUILDING',
      aliasAssigned: ok,
      errorMessage: completed && !ok ? `workflow run ${run.conclusion ?? 'failed'}` : undefined,
      createdAt: Date.parse(run.created_at),
      buildingAt: run.run_started_at ? Date.parse(run.run_started_at) : undefined,
      target: 'production'
    }
  }

  async checkAccess(): Promise<void> {
    await Promise.all([this.http.request('GET', this.path('')), this.runs({ per_page: '1' })])
  }

  /** Every repository variable, all pages; read once (again after this instance wrote). */
  private listVariables(): Promise<Variable[]> {
    this.variables ??= readLinkedPages<Variable>(
      this.http,
      this.path('/actions/variables'),
      body => (body as { variables?: Variable[] }).variables ?? [],
      { what: `the Actions variables of ${this.options.project}`, query: { per_page: '30' } }
    )
    this.variables.catch(() => (this.variables = undefined))
    return this.variables
  }

  async readEnv(keys: string[]): Promise<HostedEnv[]> {
    return (await this.listVariables())
      .filter(v => keys.includes(v.name))
      .map(v => ({
        id: v.name,
        key: v.name,
        value: v.value,
        type: 'plain',
        targets: ['production'] as EnvTarget[],
        updatedAt: v.updated_at ? Date.parse(v.updated_at) : undefined
      }))
  }

  async setEnv(values: Record<string, string>, targets: EnvTarget[]): Promise<EnvChange[]> {
    if (targets.length !== 1 || targets[0] !== 'production')
      throw new RollbackError(
        'repository Actions variables have no per-environment targets',
        'Set flags.targets: [production] for provider github-variables.'
      )
    const current = await this.readEnv(Object.keys(values))
    this.variables = undefined
    const changes: EnvChange[] = []
    for (const [key, value] of Object.entries(values)) {
      const old = current.find(e => e.key === key)
      if (old)
        await this.http.request(
          'PATCH',
          this.path(`/actions/variables/${encodeURIComponent(key)}`),
          {
            json: { name: key, value },
            // Setting the same value again is harmless.
            retry: 'any-failure'
          }
        )
      else
        await this.http.request('POST', this.path('/actions/variables'), {
          json: { name: key, value },
          // A repeat after a lost answer gets 409; only a refused request is repeated.
          retry: 'rejected'
        })
      changes.push({
        key,
        targets,
        value,
        old: old && { value: old.value, type: 'plain', readable: true }
      })
    }
    return changes
  }

  async currentProductionDeployment(): Promise<Deployment | undefined> {
    const [run] = await this.runs({ branch: this.options.ref, status: 'success', per_page: '1' })
    return run ? this.toDeployment(run) : undefined
  }

  /** Every run created since `since` (all pages: a busy branch may have more than one page). */
  async pendingProductionDeployments(since: number): Promise<Deployment[]> {
    const runs = await readLinkedPages<Run>(
      this.http,
      this.workflowPath('/runs'),
      body => (body as { workflow_runs?: Run[] }).workflow_runs ?? [],
      {
        what: `the runs of ${this.options.workflow} since ${new Date(since).toISOString()}`,
        query: {
          branch: this.options.ref,
          created: `>=${new Date(since).toISOString()}`,
          per_page: '100'
        },
        maxPages: 10
      }
    )
    return runs
      .filter(r => r.status !== 'completed' && Date.parse(r.created_at) > since)
      .map(r => this.toDeployment(r))
  }

  /** Dispatches the deploy workflow (GitHub answers 204 without the run) and finds its run. */
  async redeploy(_from: Deployment, _meta: Record<string, string>): Promise<Deployment> {
    const query = { event: 'workflow_dispatch', branch: this.options.ref, per_page: '20' }
    const known = new Set((await this.runs(query)).map(r => r.id))
    await this.http.request('POST', this.workflowPath('/dispatches'), {
      json: { ref: this.options.ref },
      retry: 'rejected'
    })
    return poll<Deployment>({
      clock: this.clock,
      timeoutMs: DISPATCH_APPEAR_MS,
      schedule: [{ everyMs: 2_000 }],
      check: async ({ deadline }) => {
        const run = (await this.runs(query, deadline)).find(r => !known.has(r.id))
        return run
          ? { done: true, value: this.toDeployment(run) }
          : { done: false, state: 'not listed' }
      },
      timeoutError: () =>
        new RollbackError(
          `dispatched ${this.options.workflow} on ${this.options.ref}, but no new run appeared within ${formatDuration(DISPATCH_APPEAR_MS)}`,
          'Check the workflow has a `workflow_dispatch` trigger and that Actions is enabled.'
        )
    })
  }

  async waitForDeployment(id: string, options: WaitOptions): Promise<Deployment> {
    let url = ''
    let last = ''
    return poll<Deployment>({
      clock: this.clock,
      timeoutMs: options.timeoutMs,
      check: async ({ deadline }) => {
        const run = await this.http.json<Run>('GET', this.path(`/actions/runs/${id}`), { deadline })
        url = run.html_url
        const d = this.toDeployment(run)
        if (d.state !== last) options.onProgress?.(d)
        last = d.state
        if (d.state === 'ERROR')
          throw new RollbackError(
            `deploy workflow run ${id} ended ${run.conclusion ?? 'without success'} (${run.html_url})`,
            'Production still runs the previous deploy. Read the run log, fix it and rerun: the variables are already set.'
          )
        return d.state === 'READY' ? { done: true, value: d } : { done: false, state: run.status }
      },
      timeoutError: (last, timeoutMs) =>
        new RollbackError(
          `deploy workflow run ${id} not finished after ${formatDuration(timeoutMs)} (${last})`,
          `Watch it at ${url}, or raise flags.wait-timeout and rerun.`
        )
    })
  }

  async autoAssignsProduction(): Promise<boolean> {
    return true
  }

  promote(): Promise<void> {
    return Promise.reject(new RollbackError('github-variables has no promote: a deploy is a run'))
  }
}
