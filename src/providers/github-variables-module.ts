/** GitHub Actions variables + a deploy workflow as a provider module. */
import { defineProvider } from './module.js'
import { GitHubVariablesProvider } from './github-variables.js'

export const githubVariablesModule = defineProvider({
  name: 'github-variables',
  schema: ({ z, secretEnvName, httpUrl, gitRef, matching }) =>
    z
      .object({
        provider: z.literal('github-variables'),
        project: z.string().min(1).describe('The repository holding the variables: owner/repo.'),
        'token-env': secretEnvName.default('GH_VARIABLES_TOKEN'),
        'api-url': httpUrl
          .optional()
          .describe('API base URL (default: the run’s GitHub API; tests use a stand-in).'),
        workflow: matching(
          /^[A-Za-z0-9._-]+$/,
          'a workflow file name such as deploy.yml, or its id'
        )
          .optional()
          .describe('The deploy workflow dispatched after the variables change.'),
        ref: gitRef.default('main').describe('Branch the deploy workflow runs on.')
      })
      .strict(),
  capabilities: {
    label: 'GitHub Actions variables',
    dashboard: 'the repository’s Actions settings',
    envTargets: 'target-sets',
    conflict: 'repository variables have no per-environment targets',
    buildTimePrefixes: ['NEXT_PUBLIC_'],
    // Actions variables are not secrets (those are Actions secrets, which this never touches).
    openTypes: ['plain'],
    createdType: 'plain'
  },
  tokenHint: tokenEnv =>
    `Pass a fine-grained token with "Variables: write" and "Actions: write" as the \`hosting-token\` input or as env ${tokenEnv} (GITHUB_TOKEN cannot write variables).`,
  create: (config, deps) =>
    new GitHubVariablesProvider({
      apiUrl: config['api-url'] ?? deps.githubApiUrl ?? 'https://api.github.com',
      token: deps.token,
      project: config.project,
      workflow: config.workflow ?? '',
      ref: config.ref,
      tokenSource: deps.tokenSource,
      fetch: deps.fetch,
      clock: deps.clock,
      log: deps.log
    })
})
