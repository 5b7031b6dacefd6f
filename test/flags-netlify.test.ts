/** The flags phase with `provider: netlify`, against the Netlify stand-in; and the provider registry. */
import { afterEach, describe, expect, it } from '@jest/globals'
import { RollbackError, type Step } from '../src/model.js'
import { flagsPhase, type FlagsAction } from '../src/phases/flags.js'
import { PROVIDERS } from '../src/providers/registry.js'
import { validateRunbook } from '../src/runbook/validate.js'
import {
  startNetlifyStandin,
  type NetlifyStandin,
  type NetlifyStandinOptions
} from './support/netlify-standin.js'
import { testContext, testRunbook, type TestContext } from './support/context.js'

let standin: NetlifyStandin | undefined
afterEach(async () => {
  await standin?.close()
  standin = undefined
})

const TOKEN = 'netlify-token-SECRET-5151'
const KEY = 'NEXT_PUBLIC_USE_STREAMING'

async function setup(options: NetlifyStandinOptions = {}, flags: Record<string, unknown> = {}) {
  standin = await startNetlifyStandin({
    token: TOKEN,
    env: [{ key: KEY, values: [{ context: 'production', value: 'true' }] }],
    ...options
  })
  const runbook = testRunbook({
    hosting: { provider: 'netlify', project: standin.site.id, 'api-url': standin.apiUrl },
    flags: { set: { [KEY]: 'false' }, redeploy: false, 'wait-timeout': '2m', ...flags }
  })
  const ctx = testContext({ runbook, env: { NETLIFY_AUTH_TOKEN: TOKEN } })
  const step = flagsPhase.plan(runbook, ctx.request)[0] as Step<FlagsAction>
  return { standin, ctx, step }
}

async function preflightError(step: Step<FlagsAction>, ctx: TestContext): Promise<RollbackError> {
  try {
    await flagsPhase.preflight!([step], ctx)
  } catch (err) {
    expect(err).toBeInstanceOf(RollbackError)
    return err as RollbackError
  }
  throw new Error('expected preflight to fail')
}

describe('flags phase on Netlify', () => {
  it('plans a rebuild for a build-time variable; preflight reads only', async () => {
    const { standin, ctx, step } = await setup()
    expect(step.action.redeploy).toBe(true)
    const notes = await flagsPhase.preflight!([step], ctx)
    expect(notes.notes?.[0]?.changes?.[0]).toBe(`${KEY} (production): true -> false`)
    expect(notes.notes?.[0]?.changes?.[1]).toMatch(/redeploy production from /)
    expect(standin.writes()).toEqual([])
  })

  it('run sets the value, rebuilds, waits until published; a rerun changes nothing', async () => {
    const { standin, ctx, step } = await setup()
    const before = standin.published()!
    const result = await flagsPhase.run(step, ctx)
    expect(result.error).toBeUndefined()
    expect(result.status).toBe('succeeded')
    expect(result.recovery?.[0]).toMatch(new RegExp(`${KEY}=true, then redeploy`))
    expect(result.recovery?.[1]).toMatch(/publishing it again .* restores them in seconds/)
    expect(result.recovery?.[1]).toContain(before.id)
    const live = standin.published()!
    expect(live.id).not.toBe(before.id)
    expect(live.env[KEY]).toBe('false')
    const page = await fetch(`${standin.url}/app/admin/o3-deep-research-diagnostics`)
    expect(await page.text()).toContain('polling mode')
    expect(
      standin.requests.every(
        r => !r.path.startsWith('/api/') || r.authorization === `Bearer ${TOKEN}`
      )
    ).toBe(true)

    const writes = standin.writes().length
    const again = await flagsPhase.run(step, ctx)
    expect(again.status).toBe('succeeded')
    expect(again.changed).toEqual([])
    expect(standin.writes()).toHaveLength(writes)
  })

  it('promotes the build when auto publishing is locked, and says so in the plan', async () => {
    const { standin, ctx, step } = await setup()
    standin.lockPublishing()
    const notes = await flagsPhase.preflight!([step], ctx)
    expect(notes.notes?.[0]?.changes?.join('\n')).toMatch(/auto publishing is locked/)
    const result = await flagsPhase.run(step, ctx)
    expect(result.status).toBe('succeeded')
    expect(standin.published()!.env[KEY]).toBe('false')
    expect(standin.autoPublishing()).toBe(true)
  })

  it('refuses targets whose values differ (one undo value could not restore them)', async () => {
    const { standin, ctx, step } = await setup(
      {
        env: [
          {
            key: KEY,
            values: [
              { context: 'production', value: 'true' },
              { context: 'deploy-preview', value: 'false' },
              { context: 'branch-deploy', value: 'false' }
            ]
          }
        ]
      },
      { targets: ['production', 'preview'] }
    )
    const err = await preflightError(step, ctx)
    expect(err.message).toMatch(/production=true, preview=false/)
    expect(err.hint).toMatch(/Netlify UI/)
    expect(standin.writes()).toEqual([])
  })

  it('names NETLIFY_AUTH_TOKEN when no token is set', async () => {
    const { ctx, step } = await setup()
    const err = await preflightError(step, testContext({ runbook: ctx.runbook, env: {} }))
    expect(err.message).toMatch(/NETLIFY_AUTH_TOKEN/)
    expect(err.hint).toMatch(/Netlify personal access token/)
  })
})

describe('provider registry', () => {
  it('each provider has its own token variable default', () => {
    const defaults = Object.fromEntries(
      PROVIDERS.map(p => {
        const extra =
          p.name === 'github-variables' ? { project: 'o/r', workflow: 'deploy.yml' } : {}
        const result = validateRunbook({
          version: 1,
          name: 't',
          hosting: { provider: p.name, project: 'p', ...extra }
        })
        const hosting = 'runbook' in result ? result.runbook.hosting : undefined
        return [p.name, hosting?.['token-env']]
      })
    )
    expect(defaults).toEqual({
      vercel: 'VERCEL_TOKEN',
      netlify: 'NETLIFY_AUTH_TOKEN',
      'github-variables': 'GH_VARIABLES_TOKEN'
    })
  })

  it('validates only the fragment `provider` names, with one problem per mistake', () => {
    const problems = (hosting: unknown) => {
      const r = validateRunbook({ version: 1, name: 't', hosting })
      return 'problems' in r ? r.problems.map(p => `${p.path.join('.')}: ${p.message}`) : []
    }
    expect(problems({ provider: 'netlfy', project: 'p' })).toEqual([
      'hosting.provider: expected one of "vercel", "netlify", "github-variables": did you mean "netlify"?'
    ])
    expect(problems({ project: 'p' })).toEqual([
      'hosting.provider: required: expected one of "vercel", "netlify", "github-variables"'
    ])
    expect(problems({ provider: 'netlify', project: 'p', team: 'x' })).toEqual([
      'hosting.team: unknown key "team": allowed keys are provider, project, account, token-env, api-url'
    ])
  })
})

describe('secret values Netlify never returns outside dev', () => {
  it('a rerun after a successful flip writes nothing and builds nothing', async () => {
    const { standin, ctx, step } = await setup(
      {
        env: [
          {
            key: 'OUTLINE_MODE',
            is_secret: true,
            values: [{ context: 'production', value: 'streaming' }]
          }
        ]
      },
      { set: { OUTLINE_MODE: 'polling' }, redeploy: true }
    )
    const first = await flagsPhase.run(step, ctx)
    expect(first.status).toBe('succeeded')
    expect(standin.published()!.env.OUTLINE_MODE).toBe('polling')
    const writes = standin.writes().length
    const rerun = testContext({ runbook: ctx.runbook, env: { NETLIFY_AUTH_TOKEN: TOKEN } })
    const again = await flagsPhase.run(step, rerun)
    expect(again).toMatchObject({ status: 'succeeded', changed: [] })
    expect(standin.writes()).toHaveLength(writes)
  })
})
