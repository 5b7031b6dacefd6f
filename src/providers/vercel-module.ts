/** Vercel as a provider module: runbook fragment, capabilities, factory. */
import { defineProvider } from './module.js'
import { VercelProvider } from './vercel.js'

export const vercelModule = defineProvider({
  name: 'vercel',
  schema: ({ z, secretEnvName, httpUrl }) =>
    z
      .object({
        provider: z.literal('vercel'),
        project: z.string().min(1).describe('Vercel project id or name.'),
        team: z
          .string()
          .optional()
          .describe('Vercel team id (team_..., sent as teamId) or slug, for team projects.'),
        'token-env': secretEnvName.default('VERCEL_TOKEN'),
        'api-url': httpUrl
          .optional()
          .describe('API base URL (default https://api.vercel.com; tests use a stand-in).')
      })
      .strict(),
  capabilities: {
    label: 'Vercel',
    dashboard: 'the Vercel dashboard',
    envTargets: 'target-sets',
    conflict: 'Vercel would answer ENV_CONFLICT',
    buildTimePrefixes: ['NEXT_PUBLIC_'],
    openTypes: ['plain'],
    createdType: 'encrypted',
    stagedBuilds:
      'the project is in Instant Rollback state (production builds are staged): the new build will be promoted, which turns automatic production assignment back on',
    instantRollback: 'Instant Rollback to it'
  },
  tokenHint: tokenEnv =>
    `Store a Vercel access token as a secret and pass it as the \`hosting-token\` input or as env ${tokenEnv} (runbook hosting.token-env).`,
  create: (config, deps) =>
    new VercelProvider({
      apiUrl: config['api-url'],
      token: deps.token,
      project: config.project,
      teamId: config.team,
      tokenSource: deps.tokenSource,
      fetch: deps.fetch,
      clock: deps.clock,
      log: deps.log
    })
})
