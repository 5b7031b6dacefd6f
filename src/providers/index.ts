/** Builds the hosting provider a runbook names (through the registry), with its token. */
import { MissingSecretError, RollbackError } from '../util/errors.js'
import type { Logger } from '../util/logger.js'
import type { Runbook } from '../runbook/schema.js'
import type { Clock } from '../http/index.js'
import type { HostingProvider } from './types.js'
import type { ProviderModule } from './module.js'
import { providerModule } from './registry.js'

export type { HostingProvider } from './types.js'
export { capabilitiesOf } from './registry.js'

export interface ProviderOverrides {
  random?: () => number
  now?: () => number
}

/** What a provider is built from: the runbook's section, the token, and the transport. */
export interface HostingSource {
  hosting?: Runbook['hosting']
  /** The hosting-token input. */
  inputToken?: string
  env: Readonly<Record<string, string | undefined>>
  /** The GitHub API of the repository (github-variables' default). */
  githubApiUrl?: string
  fetch: typeof fetch
  sleep(ms: number): Promise<void>
  log: Logger
}

/** The hosting token, or undefined; never logged. */
export function hostingToken(source: HostingSource): string | undefined {
  const hosting = source.hosting
  if (!hosting) return undefined
  return source.inputToken ?? source.env[hosting['token-env']] ?? undefined
}

/** Throws RollbackError naming the runbook field or variable when the provider cannot be built. */
export function createHostingProvider(
  source: HostingSource,
  overrides: ProviderOverrides = {}
): HostingProvider {
  const hosting = source.hosting
  if (!hosting)
    throw new RollbackError(
      'the runbook has `flags` but no `hosting` section: there is no platform to set the variables on',
      'Add `hosting: { provider: vercel, project: <id or name>, team: team_... }` (or netlify, github-variables) to the runbook.'
    )
  const module = providerModule(hosting.provider) as ProviderModule | undefined
  if (!module)
    throw new RollbackError(
      `hosting.provider \`${hosting.provider}\` is not a known provider`,
      'Use one of the providers the runbook schema lists.'
    )
  const tokenEnv = hosting['token-env']
  const token = hostingToken(source)
  if (!token)
    throw new MissingSecretError(
      `no hosting token: neither the hosting-token input nor the ${tokenEnv} environment variable is set`,
      module.tokenHint(tokenEnv)
    )
  // The source's fetch is the entry point's (proxy-aware) one; its sleep is the tests' hook.
  const clock: Clock = {
    now: overrides.now ?? (() => Date.now()),
    sleep: ms => source.sleep(ms),
    random: overrides.random ?? (() => Math.random())
  }
  return module.create(hosting, {
    token,
    tokenSource: `the hosting-token input / ${tokenEnv}`,
    fetch: source.fetch,
    clock,
    log: source.log,
    githubApiUrl: source.githubApiUrl
  })
}
