/**
 * The small interface every hosting platform is driven through. The flags phase only knows this
 * and the provider's capabilities; the implementations are listed in src/providers/registry.ts
 * (docs/adding-a-provider.md).
 */
export type EnvTarget = 'production' | 'preview' | 'development'

/** Two target lists name the same set (a variable is scoped by its set of targets). */
export const sameTargets = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every(x => b.includes(x))

/** One stored variable as the platform reports it. */
export interface HostedEnv {
  id: string
  key: string
  /** undefined when the platform never returns it (Vercel `sensitive`). */
  value?: string
  type: string
  targets: EnvTarget[]
  /** Epoch ms of the last change, when known: decides whether a build already has the value. */
  updatedAt?: number
}

export interface EnvChange {
  key: string
  targets: EnvTarget[]
  /** What the variable was before (undefined: did not exist). */
  old?: { value?: string; type: string; readable: boolean }
  value: string
}

export type DeploymentState =
  'QUEUED' | 'INITIALIZING' | 'BUILDING' | 'READY' | 'ERROR' | 'CANCELED' | 'BLOCKED' | string

export interface Deployment {
  id: string
  /** Host name without scheme, as the platform reports it. */
  url: string
  state: DeploymentState
  aliasAssigned: boolean
  /**
   * READY but never served production (Vercel `readySubstate: STAGED`, Netlify a ready deploy
   * without `published_at`): its generated aliases may be assigned, its production domains are not
   * until promoted. Never an instant rollback target.
   */
  staged?: boolean
  aliasError?: { code?: string; message?: string }
  errorMessage?: string
  createdAt?: number
  /** When the build started (its env was read then); falls back to createdAt. */
  buildingAt?: number
  /** When it became ready (epoch ms), where the platform says: with buildingAt, the build time. */
  readyAt?: number
  target?: string
  /** The git commit it was built from, where the platform says (Vercel meta, Netlify commit_ref). */
  commitSha?: string
  /** The seal (seal.ts) of the values this tool set before starting it, when this tool did. */
  sealed?: string
}

export interface WaitOptions {
  timeoutMs: number
  /** Promote the deployment once READY (production builds are staged after an Instant Rollback). */
  promote?: boolean
  /** Called on every state change (for the log). */
  onProgress?(deployment: Deployment): void
}

/** What an instant rollback would serve, from one listing of production deployments. */
export interface RollbackCandidate {
  /** The deployment production traffic goes to now. */
  live?: Deployment
  /** The newest READY production deployment that qualifies (undefined: none). */
  candidate?: Deployment
}

/** Which earlier deployments an instant rollback may serve: those built before the bad change. */
export interface Cutoff {
  /** Names it in messages and keys a provider's cache: `built before commit 1a2b3c4d5e6f`. */
  label: string
  /** Epoch ms: a deployment created before it qualifies (undefined: before the live one). */
  before?: number
  /**
   * Whether a deployment built from commit `sha` is free of the bad change (git ancestry);
   * undefined when that cannot be told (then `before` decides).
   */
  clean?(sha: string): Promise<boolean | undefined>
}

/** Production serves an instant rollback (ours or a person's), as the platform records it. */
export interface RolledBack {
  /** The earlier deployment production serves. */
  served: Deployment
  /** What production served before the rollback (released code): the durable fix rebuilds it. */
  rebuildFrom: Deployment
}

export interface HostingProvider {
  /** e.g. `vercel project outline-app (team team_abc)`: for messages. */
  readonly description: string
  /** Token valid and project visible; throws RollbackError otherwise. */
  checkAccess(): Promise<void>
  /** Variables named in `keys`, every stored entry (one per target set). */
  readEnv(keys: string[]): Promise<HostedEnv[]>
  /** Upserts every value for exactly `targets`; returns what each variable was before. */
  setEnv(values: Record<string, string>, targets: EnvTarget[]): Promise<EnvChange[]>
  /** The deployment production traffic goes to now (undefined: none). */
  currentProductionDeployment(): Promise<Deployment | undefined>
  /**
   * Production deployments created at or after `since` (epoch ms) that are still on their way
   * (building, or built and waiting for the alias): a rerun waits for one instead of starting
   * another build.
   */
  pendingProductionDeployments(since: number): Promise<Deployment[]>
  /**
   * Starts a fresh production build of `from` (no build cache). `meta` is recorded on it;
   * `meta.rollbackValues` (seal.ts) comes back as the deployment's `sealed`.
   */
  redeploy(from: Deployment, meta: Record<string, string>): Promise<Deployment>
  /**
   * A keyed digest of `text` (seal.ts), for providers whose variable values may not be readable
   * back: a rerun finds the build made after setting them.
   */
  seal?(text: string): string
  /**
   * false when production builds are staged instead of going live by themselves (Vercel after an
   * Instant Rollback: autoAssignCustomDomains false until a deployment is promoted).
   */
  autoAssignsProduction(): Promise<boolean>
  /** Points production at `id` (a READY deployment) and re-enables automatic assignment. */
  promote(id: string): Promise<void>
  /**
   * Instant rollback support (capabilities.instantRollback): the live deployment and the newest
   * READY production deployment that qualifies under `cutoff` (qualifies() in cutoff.ts).
   */
  rollbackCandidate?(cutoff: Cutoff): Promise<RollbackCandidate>
  /**
   * Production serves an instant rollback, as the platform records it (undefined: it does not;
   * automatic assignment being off is not enough, a build staged on purpose is unreleased): a
   * rerun after a crash keeps serving it and rebuilds `rebuildFrom`, never the rolled-back
   * deployment. Throws RollbackError when a rebuild could only ship unreleased code.
   */
  rolledBack?(): Promise<RolledBack | undefined>
  /**
   * Serves `id` (READY, built earlier) in production again without a build, and returns once it
   * does. Automatic production assignment stays off until promote().
   */
  rollBackTo?(id: string, timeoutMs: number): Promise<void>
  /**
   * Polls until live (READY, alias assigned, not staged; with `promote`, promoted and production's
   * deployment); throws RollbackError on failure or timeout.
   */
  waitForDeployment(id: string, options: WaitOptions): Promise<Deployment>
}
