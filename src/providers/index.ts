/** Builds the hosting provider a runbook names (through the registry), with its token. */
import { RollbackError } from '../util/errors.js'
import type { HostingConfig } from '../runbook/schema.js'
import type { HostingProvider } from './types.js'
import type { Clock } from '../http/index.js'
import type { ProviderDeps, ProviderModule } from './module.js'
import { providerModule } from './registry.js'

export type { HostingProvider } from './types.js'
export { capabilitiesOf } from './registry.js'

export interface ProviderOverrides {
  random?: () => number
  now?: () => number
}

/** What the factory needs from the run, as plain values. */
export interface ProviderInputs extends Omit<ProviderDeps, 'token' | 'tokenSource' | 'clock'> {
  /** The run's sleep (the tests' hook). */
  sleep(ms: number): Promise<void>
  /** The hosting-token input, when given (it wins over the environment). */
  tokenInput?: string
  env: Readonly<Record<string, string | undefined>>
}

/** The hosting token, or undefined; never logged. */
export function hostingToken(
  hosting: HostingConfig | undefined,
  tokenInput: string | undefined,
  env: Readonly<Record<string, string | undefined>>
): string | undefined {
  if (!hosting) return undefined
  return tokenInput ?? env[hosting['token-env']] ?? undefined
}

/** Throws RollbackError naming the runbook field or variable when the provider cannot be built. */
export function createHostingProvider(
  hosting: HostingConfig | undefined,
  inputs: ProviderInputs,
  overrides: ProviderOverrides = {}
): HostingProvider {
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
  const token = hostingToken(hosting, inputs.tokenInput, inputs.env)
  if (!token)
    throw new RollbackError(
      `no hosting token: neither the hosting-token input nor the ${tokenEnv} environment variable is set`,
      module.tokenHint(tokenEnv)
    )
  const { tokenInput: _input, env: _env, sleep, ...deps } = inputs
  const clock: Clock = {
    now: overrides.now ?? (() => Date.now()),
    sleep,
    random: overrides.random ?? (() => Math.random())
  }
  return module.create(hosting, {
    ...deps,
    clock,
    token,
    tokenSource: `the hosting-token input / ${tokenEnv}`
  })
}
