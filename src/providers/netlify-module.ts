/** Netlify as a provider module: runbook fragment, capabilities, factory. */
import { defineProvider } from './module.js'
import { NetlifyProvider } from './netlify.js'

export const netlifyModule = defineProvider({
  name: 'netlify',
  schema: ({ z, secretEnvName, httpUrl }) =>
    z
      .object({
        provider: z.literal('netlify'),
        project: z
          .string()
          .min(1)
          .describe(
            'Netlify site: its id (Site configuration > Site information) or <name>.netlify.app.'
          ),
        account: z
          .string()
          .min(1)
          .optional()
          .describe('Account (team) slug or id that owns the variables; default: the site’s.'),
        'token-env': secretEnvName.default('NETLIFY_AUTH_TOKEN'),
        'api-url': httpUrl
          .optional()
          .describe('API base URL (default https://api.netlify.com/api/v1; tests use a stand-in).')
      })
      .strict(),
  capabilities: {
    label: 'Netlify',
    dashboard: 'the Netlify UI',
    envTargets: 'per-target',
    buildTimePrefixes: ['NEXT_PUBLIC_'],
    openTypes: ['plain'],
    createdType: 'plain',
    stagedBuilds:
      'auto publishing is locked on the site (new production deploys stay unpublished): the new deploy will be published, which unlocks auto publishing',
    instantRollback: 'publishing it again (Deploys > Publish deploy)'
  },
  tokenHint: tokenEnv =>
    `Store a Netlify personal access token as a secret and pass it as the \`hosting-token\` input or as env ${tokenEnv} (runbook hosting.token-env).`,
  create: (config, deps) =>
    new NetlifyProvider({
      apiUrl: config['api-url'],
      token: deps.token,
      site: config.project,
      account: config.account,
      tokenSource: deps.tokenSource,
      fetch: deps.fetch,
      clock: deps.clock,
      log: deps.log
    })
})
