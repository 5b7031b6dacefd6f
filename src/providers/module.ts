/**
 * What a hosting provider module exports: its runbook schema fragment, its capabilities and a
 * factory. The registry (registry.ts) lists the modules; the runbook schema, the flags phase and
 * the factory in index.ts read them from there, so a new provider touches its own module, one
 * registry line and the docs.
 *
 * The schema fragment is a function of the zod kit schema.ts hands it: zod is a build-time tool
 * (it stays out of the bundle), so a provider module imports only its types.
 */
import type { z } from 'zod'
import type { Clock, FetchLike } from '../http/index.js'
import type { Logger } from '../util/logger.js'
import type { HostingProvider } from './types.js'

/** The zod pieces schema.ts shares, so fragments speak the runbook's conventions. */
export interface SchemaKit {
  z: typeof z
  /** The name of an environment variable that holds a secret (never the value). */
  envName: z.ZodString
  /** `envName` marked `x-secret`: what the variable holds is masked and redacted everywhere. */
  secretEnvName: z.ZodString
  httpUrl: z.ZodString
  gitRef: z.ZodString
  /** A string matching `pattern`; `expected` completes "expected ..." in error messages. */
  matching(pattern: RegExp, expected: string): z.ZodString
}

/** Every fragment has these keys (the flags phase and the factory read them). */
export type HostingShape = z.ZodObject<{
  provider: z.ZodLiteral<string>
  project: z.ZodType<string>
  'token-env': z.ZodDefault<z.ZodString>
  'api-url': z.ZodOptional<z.ZodString>
}>

export interface ProviderCapabilities {
  /** Names the platform in messages: `Vercel`, `Netlify`. */
  label: string
  /** Where a person looks at deployments and variables: `the Vercel dashboard`. */
  dashboard: string
  /**
   * How stored variables relate to targets: `target-sets`, one entry per exact set of targets,
   * an overlapping other set refused; `per-target`, each target its own value.
   */
  envTargets: 'target-sets' | 'per-target'
  /** Why an overlapping set of targets is refused (target-sets only). */
  conflict?: string
  /** Variable name prefixes compiled into the client bundle: changing one always rebuilds. */
  buildTimePrefixes: readonly string[]
  /**
   * Stored types whose values are not secret (HostedEnv.type): plans and reports show them. Any
   * other value is hidden and redacted, unless its name is client-visible (buildTimePrefixes).
   */
  openTypes: readonly string[]
  /** The type a variable the run creates is stored as. */
  createdType: string
  /**
   * Production builds can wait unpublished until promoted: the sentence the plan shows when the
   * project is in that state (promote() publishes and turns automatic publishing back on).
   */
  stagedBuilds?: string
  /** Serving an earlier deployment again without a build, as the recovery list words it ("Instant Rollback to it"). */
  instantRollback?: string
}

/** What a factory gets besides its runbook section. */
export interface ProviderDeps {
  token: string
  /** Where the token came from, for hints (never the token). */
  tokenSource: string
  /** The entry point's (proxy-aware) fetch. */
  fetch: FetchLike
  /** All waiting and time: tests make it instant and pin the jitter. */
  clock: Clock
  log?: Logger
  /** The run's GitHub API URL (github-variables' default). */
  githubApiUrl?: string
}

export interface ProviderModule<S extends HostingShape = HostingShape> {
  name: z.output<S>['provider']
  schema(kit: SchemaKit): S
  capabilities: ProviderCapabilities
  /** The hint when no token is set: which token, with which rights. */
  tokenHint(tokenEnv: string): string
  create(config: z.output<S>, deps: ProviderDeps): HostingProvider
}

/** Keeps a module's config type tied to its own schema fragment. */
export function defineProvider<S extends HostingShape>(module: ProviderModule<S>) {
  return module
}
