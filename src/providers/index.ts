/** Builds the hosting provider a runbook names, with the token from secrets or the environment. */
import { RollbackError } from '../util/errors.js'
import type { Logger } from '../util/logger.js'
import type { Runbook } from '../runbook/schema.js'
import type { HostingProvider } from './types.js'
import type { Clock } from '../http/index.js'
import { GitHubVariablesProvider } from './github-variables.js'
import { VercelProvider } from './vercel.js'

export type { HostingProvider } from './types.js'

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
      'Add `hosting: { provider: vercel, project: <id or name>, team: team_... }` to the runbook.'
    )
  const tokenEnv = hosting['token-env']
  const token = hostingToken(source)
  if (!token)
    throw new RollbackError(
      `no hosting token: neither the hosting-token input nor the ${tokenEnv} environment variable is set`,
      hosting.provider === 'vercel'
        ? `Store a Vercel access token as a secret and pass it as the \`hosting-token\` input or as env ${tokenEnv} (runbook hosting.token-env).`
        : `Pass a fine-grained token with "Variables: write" and "Actions: write" as the \`hosting-token\` input or as env ${tokenEnv} (GITHUB_TOKEN cannot write variables).`
    )
  // The source's fetch is the entry point's (proxy-aware) one; its sleep is the tests' hook.
  const clock: Clock = {
    now: overrides.now ?? (() => Date.now()),
    sleep: ms => source.sleep(ms),
    random: overrides.random ?? (() => Math.random())
  }
  const tokenSource = `the hosting-token input / ${tokenEnv}`
  switch (hosting.provider) {
    case 'vercel':
      return new VercelProvider({
        apiUrl: hosting['api-url'],
        token,
        project: hosting.project,
        teamId: hosting.team,
        tokenSource,
        fetch: source.fetch,
        clock,
        log: source.log
      })
    case 'github-variables':
      return new GitHubVariablesProvider({
        apiUrl: hosting['api-url'] ?? source.githubApiUrl ?? 'https://api.github.com',
        token,
        project: hosting.project,
        workflow: hosting.workflow ?? '',
        ref: hosting.ref,
        tokenSource,
        fetch: source.fetch,
        clock,
        log: source.log
      })
  }
}
