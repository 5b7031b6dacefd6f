/**
 * Hosting through GitHub itself: the flags are repository Actions variables and a deploy is a
 * dispatch of the deploy workflow, watched until its run completes. Changing a variable deploys
 * nothing by itself, and GITHUB_TOKEN cannot write variables (a fine-grained token or App with
 * "Variables: write" is needed): the errors say so.
 */
import { GitHubClient } from '../github/client.js'
import type { ProxySettings } from '../github/proxy.js'
import { RollbackError } from '../util/errors.js'
import { elapsedMs, formatDuration } from '../util/duration.js'
import type {
  Deployment,
  EnvChange,
  EnvTarget,
  HostedEnv,
  HostingProvider,
  WaitOptions
} from './types.js'
import { pollInterval } from './vercel.js'

export interface GitHubVariablesOptions {
  apiUrl: string
  token: string
  /** owner/repo */
  project: string
  workflow: string
  ref: string
  fetch: typeof fetch
  sleep(ms: number): Promise<void>
  /** Proxy for the GitHub API (the Octokit client routes through it). */
  proxy?: ProxySettings
  now?: () => number
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

export class GitHubVariablesProvider implements HostingProvider {
  readonly description: string
  private readonly client: GitHubClient
  private readonly now: () => number

  constructor(private readonly options: GitHubVariablesOptions) {
    const [owner = '', repo = ''] = options.project.split('/')
    this.client = new GitHubClient({
      apiUrl: options.apiUrl,
      token: options.token,
      owner,
      repo,
      proxy: options.proxy
    })
    this.now = options.now ?? Date.now
    this.description = `GitHub repository ${options.project} (Actions variables, workflow ${options.workflow} on ${options.ref})`
  }

  private path(suffix: string): string {
    return `/repos/${this.options.project}${suffix}`
  }

  private runs(query: Record<string, string>): Promise<{ workflow_runs?: Run[] }> {
    const q = new URLSearchParams(query).toString()
    return this.client.request(
      'GET',
      this.path(`/actions/workflows/${encodeURIComponent(this.options.workflow)}/runs?${q}`)
    )
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
    await this.client.request('GET', this.path(''))
    await this.runs({ per_page: '1' })
  }

  async readEnv(keys: string[]): Promise<HostedEnv[]> {
    const found: HostedEnv[] = []
    for (const key of keys) {
      const v = (await this.client.getVariable(key)) as
        { name: string; value: string; updated_at?: string } | undefined
      if (v)
        found.push({
          id: key,
          key,
          value: v.value,
          type: 'plain',
          targets: ['production'],
          updatedAt: v.updated_at ? Date.parse(v.updated_at) : undefined
        })
    }
    return found
  }

  async setEnv(values: Record<string, string>, targets: EnvTarget[]): Promise<EnvChange[]> {
    if (targets.length !== 1 || targets[0] !== 'production')
      throw new RollbackError(
        'repository Actions variables have no per-environment targets',
        'Set flags.targets: [production] for provider github-variables.'
      )
    const current = await this.readEnv(Object.keys(values))
    const changes: EnvChange[] = []
    for (const [key, value] of Object.entries(values)) {
      const old = current.find(e => e.key === key)
      if (old) await this.client.updateVariable(key, value)
      else await this.client.request('POST', this.path('/actions/variables'), { name: key, value })
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
    const { workflow_runs } = await this.runs({
      branch: this.options.ref,
      status: 'success',
      per_page: '1'
    })
    const run = workflow_runs?.[0]
    return run ? this.toDeployment(run) : undefined
  }

  async pendingProductionDeployments(since: number): Promise<Deployment[]> {
    const { workflow_runs } = await this.runs({ branch: this.options.ref, per_page: '20' })
    return (workflow_runs ?? [])
      .filter(r => r.status !== 'completed' && Date.parse(r.created_at) > since)
      .map(r => this.toDeployment(r))
  }

  /** Dispatches the deploy workflow (GitHub answers 204 without the run) and finds its run. */
  async redeploy(_from: Deployment, _meta: Record<string, string>): Promise<Deployment> {
    const query = { event: 'workflow_dispatch', branch: this.options.ref, per_page: '20' }
    const known = new Set(((await this.runs(query)).workflow_runs ?? []).map(r => r.id))
    await this.client.request(
      'POST',
      this.path(`/actions/workflows/${encodeURIComponent(this.options.workflow)}/dispatches`),
      { ref: this.options.ref }
    )
    for (let attempt = 0; attempt < 15; attempt++) {
      const run = ((await this.runs(query)).workflow_runs ?? []).find(r => !known.has(r.id))
      if (run) return this.toDeployment(run)
      await this.options.sleep(2000)
    }
    throw new RollbackError(
      `dispatched ${this.options.workflow} on ${this.options.ref}, but no new run appeared within 30 s`,
      'Check the workflow has a `workflow_dispatch` trigger and that Actions is enabled.'
    )
  }

  async waitForDeployment(id: string, options: WaitOptions): Promise<Deployment> {
    const started = this.now()
    let slept = 0
    let last = ''
    for (;;) {
      const run = await this.client.request<Run>('GET', this.path(`/actions/runs/${id}`))
      const d = this.toDeployment(run)
      if (d.state !== last) options.onProgress?.(d)
      last = d.state
      if (d.state === 'READY') return d
      if (d.state === 'ERROR')
        throw new RollbackError(
          `deploy workflow run ${id} ended ${run.conclusion ?? 'without success'} (${run.html_url})`,
          'Production still runs the previous deploy. Read the run log, fix it and rerun: the variables are already set.'
        )
      const elapsed = elapsedMs(started, slept, this.now())
      if (elapsed >= options.timeoutMs)
        throw new RollbackError(
          `deploy workflow run ${id} not finished after ${formatDuration(options.timeoutMs)} (${run.status})`,
          `Watch it at ${run.html_url}, or raise flags.wait-timeout and rerun.`
        )
      const wait = Math.min(pollInterval(elapsed), Math.max(options.timeoutMs - elapsed, 0))
      await this.options.sleep(wait)
      slept += wait
    }
  }

  async autoAssignsProduction(): Promise<boolean> {
    return true
  }

  promote(): Promise<void> {
    return Promise.reject(new RollbackError('github-variables has no promote: a deploy is a run'))
  }
}
