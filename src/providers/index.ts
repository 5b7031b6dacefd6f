/** Builds the hosting provider a runbook names, with the token from secrets or the environment. */
import { MissingSecretError, RollbackError } from '../util/errors.js'
import { type RunContext } from '../model.js'
import type { HostingProvider } from './types.js'
import { GitHubVariablesProvider } from './github-variables.js'
import { VercelProvider } from './vercel.js'

export type { HostingProvider } from './types.js'

export interface ProviderOverrides {
  random?: () => number
  now?: () => number
}

/** The hosting token, or undefined; never logged. */
export function hostingToken(ctx: RunContext): string | undefined {
  const hosting = ctx.runbook.hosting
  if (!hosting) return undefined
  return ctx.secrets.hostingToken ?? ctx.env[hosting['token-env']] ?? undefined
}

/** Throws RollbackError naming the runbook field or variable when the provider cannot be built. */
export function createHostingProvider(
  ctx: RunContext,
  overrides: ProviderOverrides = {}
): HostingProvider {
  const hosting = ctx.runbook.hosting
  if (!hosting)
    throw new RollbackError(
      'the runbook has `flags` but no `hosting` section: there is no platform to set the variables on',
      'Add `hosting: { provider: vercel, project: <id or name>, team: team_... }` to the runbook.'
    )
  const tokenEnv = hosting['token-env']
  const token = hostingToken(ctx)
  if (!token)
    throw new MissingSecretError(
      `no hosting token: neither the hosting-token input nor the ${tokenEnv} environment variable is set`,
      hosting.provider === 'vercel'
        ? `Store a Vercel access token as a secret and pass it as the \`hosting-token\` input or as env ${tokenEnv} (runbook hosting.token-env).`
        : `Pass a fine-grained token with "Variables: write" and "Actions: write" as the \`hosting-token\` input or as env ${tokenEnv} (GITHUB_TOKEN cannot write variables).`
    )
  switch (hosting.provider) {
    case 'vercel':
      return new VercelProvider({
        apiUrl: hosting['api-url'],
        token,
        project: hosting.project,
        teamId: hosting.team,
        tokenSource: `the hosting-token input / ${tokenEnv}`,
        fetch: ctx.fetch,
        sleep: ms => ctx.sleep(ms),
        log: ctx.log,
        ...overrides
      })
    case 'github-variables':
      return new GitHubVariablesProvider({
        apiUrl: hosting['api-url'] ?? ctx.github?.apiUrl ?? 'https://api.github.com',
        token,
        project: hosting.project,
        workflow: hosting.workflow ?? '',
        ref: hosting.ref,
        fetch: ctx.fetch,
        sleep: ms => ctx.sleep(ms),
        now: overrides.now
      })
  }
}
