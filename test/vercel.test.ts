import { afterEach, describe, expect, it } from '@jest/globals'
import { RollbackError } from '../src/model.js'
import { toDeployment, VercelProvider } from '../src/providers/vercel.js'
import { pollInterval, retryDecision, DEFAULT_RETRY } from '../src/http/index.js'
import {
  startVercelStandin,
  type VercelStandin,
  type VercelStandinOptions
} from './support/vercel-standin.js'

let standin: VercelStandin | undefined
afterEach(async () => {
  await standin?.close()
  standin = undefined
})

async function setup(
  options: VercelStandinOptions = {},
  client: { token?: string; teamId?: string | null } = {}
) {
  standin = await startVercelStandin({
    env: [
      { key: 'NEXT_PUBLIC_USE_STREAMING', value: 'true', type: 'encrypted', target: ['production'] }
    ],
    ...options
  })
  const sleeps: number[] = []
  const provider = new VercelProvider({
    apiUrl: standin.url,
    token: client.token ?? standin.token,
    project: 'outline-app',
    teamId: client.teamId === null ? undefined : (client.teamId ?? standin.project.teamId),
    tokenSource: 'VERCEL_TOKEN',
    clock: {
      now: () => Date.now(),
      sleep: async ms => {
        sleeps.push(ms)
      },
      random: () => 0.5
    }
  })
  return { standin, provider, sleeps }
}

async function rejection(p: Promise<unknown>): Promise<RollbackError> {
  try {
    await p
  } catch (err) {
    expect(err).toBeInstanceOf(RollbackError)
    return err as RollbackError
  }
  throw new Error('expected a rejection')
}

describe('Vercel stand-in (raw contract)', () => {
  it('rejects missing and wrong tokens with 403 forbidden', async () => {
    const { standin } = await setup()
    const none = await fetch(`${standin.url}/v10/projects/outline-app/env`)
    expect(none.status).toBe(403)
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe('forbidden')
    const wrong = await fetch(`${standin.url}/v10/projects/outline-app/env`, {
      headers: { authorization: 'Bearer nope' }
    })
    expect(wrong.status).toBe(403)
  })

  it('never returns sensitive values, rejects type secret, and refuses an existing key without upsert', async () => {
    const { standin } = await setup({
      env: [{ key: 'API_KEY', value: 'sk-live-very-secret', type: 'sensitive' }]
    })
    const auth = { authorization: `Bearer ${standin.token}`, 'content-type': 'application/json' }
    const list = await fetch(`${standin.url}/v10/projects/outline-app/env?decrypt=true`, {
      headers: auth
    })
    const text = await list.text()
    expect(text).not.toContain('sk-live-very-secret')
    const secret = await fetch(`${standin.url}/v10/projects/outline-app/env?upsert=true`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ key: 'X', value: '1', type: 'secret', target: ['production'] })
    })
    expect(secret.status).toBe(400)
    const dup = await fetch(`${standin.url}/v10/projects/outline-app/env`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({
        key: 'API_KEY',
        value: '2',
        type: 'sensitive',
        target: ['production']
      })
    })
    expect(dup.status).toBe(400)
    expect(((await dup.json()) as { error: { code: string } }).error.code).toBe(
      'ENV_ALREADY_EXISTS'
    )
    // upsert exists on v10 only
    const v9 = await fetch(`${standin.url}/v9/projects/outline-app/env?upsert=true`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({
        key: 'API_KEY',
        value: '2',
        type: 'sensitive',
        target: ['production']
      })
    })
    expect(v9.status).toBe(400)
  })
})

describe('Vercel stand-in (edit, delete, build cache)', () => {
  it('edits and deletes a variable by id (v9)', async () => {
    const { standin } = await setup()
    const auth = { authorization: `Bearer ${standin.token}`, 'content-type': 'application/json' }
    const id = standin.envs[0]!.id
    const patch = await fetch(`${standin.url}/v9/projects/outline-app/env/${id}`, {
      method: 'PATCH',
      headers: auth,
      body: JSON.stringify({ value: 'maybe' })
    })
    expect(patch.status).toBe(200)
    expect(standin.envs[0]!.value).toBe('maybe')
    const del = await fetch(`${standin.url}/v9/projects/outline-app/env/${id}`, {
      method: 'DELETE',
      headers: auth
    })
    expect(del.status).toBe(200)
    expect(standin.envs).toHaveLength(0)
  })

  it('a redeploy without forceNew=1 can serve stale NEXT_PUBLIC_* values from the build cache', async () => {
    const { standin } = await setup()
    const auth = { authorization: `Bearer ${standin.token}`, 'content-type': 'application/json' }
    standin.setEnv('NEXT_PUBLIC_USE_STREAMING', 'false')
    const res = await fetch(`${standin.url}/v13/deployments`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({
        name: 'outline-app',
        deploymentId: standin.liveDeployment()!.id,
        target: 'production'
      })
    })
    expect(res.status).toBe(200)
    standin.advance(10)
    expect(standin.liveDeployment()!.env.NEXT_PUBLIC_USE_STREAMING).toBe('true')
  })
})

describe('VercelProvider', () => {
  it('reads, upserts (returning old values) and redeploys until READY with alias assigned', async () => {
    const { standin, provider } = await setup()
    const before = await provider.readEnv(['NEXT_PUBLIC_USE_STREAMING'])
    expect(before).toMatchObject([
      { key: 'NEXT_PUBLIC_USE_STREAMING', value: 'true', targets: ['production'] }
    ])
    const changes = await provider.setEnv({ NEXT_PUBLIC_USE_STREAMING: 'false' }, ['production'])
    expect(changes[0]).toMatchObject({
      key: 'NEXT_PUBLIC_USE_STREAMING',
      value: 'false',
      old: { value: 'true' }
    })
    const live = await provider.currentProductionDeployment()
    expect(live?.id).toBe(standin.liveDeployment()?.id)
    const created = await provider.redeploy(live!, { rollback: 'test' })
    const states: string[] = []
    const done = await provider.waitForDeployment(created.id, {
      timeoutMs: 60_000,
      onProgress: d => states.push(d.state)
    })
    expect(done).toMatchObject({ state: 'READY', aliasAssigned: true })
    expect(standin.liveDeployment()?.env.NEXT_PUBLIC_USE_STREAMING).toBe('false')
    const post = standin.requestsTo('/v13/deployments', 'POST')[0]!
    expect(post.query.forceNew).toBe('1')
    expect(post.body).toMatchObject({
      name: 'outline-app',
      deploymentId: live!.id,
      target: 'production'
    })
    expect(states).toContain('BUILDING')
  })

  it("honours the server's Retry-After on 429 exactly (never sooner, never clamped), plus jitter", async () => {
    const { standin, provider, sleeps } = await setup()
    standin.rateLimit('/v10/projects/outline-app/env', { times: 1, retryAfter: 7 })
    standin.rateLimit('/v10/projects/outline-app/env', { times: 1, retryAfter: 1 })
    standin.rateLimit('/v10/projects/outline-app/env', { times: 1, retryAfter: 120 })
    await provider.readEnv(['NEXT_PUBLIC_USE_STREAMING'])
    expect(sleeps).toEqual([7500, 1500, 120500])
    const limited = standin.requests.filter(r => r.status === 429)
    expect(limited).toHaveLength(3)
  })

  it('fails at once, saying when to retry, when Retry-After is past the deadline', async () => {
    const { standin, provider, sleeps } = await setup()
    standin.rateLimit('/v10/projects/outline-app/env', { times: 1, retryAfter: 3600 })
    const err = await rejection(provider.readEnv(['NEXT_PUBLIC_USE_STREAMING']))
    expect(err.message).toMatch(/429 rate_limited.*asks to wait 60 min/)
    expect(err.hint).toMatch(/^Retry after \d{4}-\d\d-\d\dT/)
    expect(sleeps).toEqual([])
  })

  it('backs off after other 5xx (from 5 s, growing) and gives up after 5 tries', async () => {
    const { standin, provider, sleeps } = await setup()
    standin.failNext('/v10/projects/outline-app/env', { status: 502, times: 5 })
    const err = await rejection(provider.readEnv(['X']))
    expect(err.message).toMatch(/after 5 tries/)
    expect(sleeps).toEqual([5500, 10500, 20500, 30500])
    expect(standin.requestsTo('/v10/projects/outline-app/env')).toHaveLength(5)
  })

  it('does not retry a 500 when creating a deployment (not idempotent)', async () => {
    const { standin, provider } = await setup()
    const live = await provider.currentProductionDeployment()
    standin.failNext('/v13/deployments', { status: 500, method: 'POST' })
    await rejection(provider.redeploy(live!, {}))
    expect(standin.requestsTo('/v13/deployments', 'POST')).toHaveLength(1)
  })

  it('treats a 201 with failures as a failure naming the key', async () => {
    const { standin, provider } = await setup()
    standin.failEnvKey('NEXT_PUBLIC_USE_STREAMING', {
      code: 'ENV_SAVE_FAILED',
      message: 'internal'
    })
    const err = await rejection(
      provider.setEnv({ NEXT_PUBLIC_USE_STREAMING: 'false' }, ['production'])
    )
    expect(err.message).toMatch(/201.*NEXT_PUBLIC_USE_STREAMING.*ENV_SAVE_FAILED/)
    const post = standin.requestsTo('/v10/projects/outline-app/env', 'POST')[0]!
    expect(post.status).toBe(201)
  })

  it('reports ENV_CONFLICT when the existing variable has other targets', async () => {
    const { provider } = await setup({
      env: [{ key: 'NEXT_PUBLIC_USE_STREAMING', value: 'true', target: ['production', 'preview'] }]
    })
    const err = await rejection(
      provider.setEnv({ NEXT_PUBLIC_USE_STREAMING: 'false' }, ['production'])
    )
    expect(err.message).toMatch(/NEXT_PUBLIC_USE_STREAMING.*ENV_CONFLICT/)
    expect(err.hint).toMatch(/flags.targets/)
  })

  it('explains a wrong token without echoing it', async () => {
    const { provider } = await setup({}, { token: 'wrong-token-123' })
    const err = await rejection(provider.checkAccess())
    expect(err.message).toMatch(/rejected the token/)
    expect(err.hint).toMatch(/VERCEL_TOKEN/)
    expect(`${err.message} ${err.hint}`).not.toContain('wrong-token-123')
  })

  it('needs teamId for a team project, and sends it on every call', async () => {
    const team = { project: { teamId: 'team_abc', teamSlug: 'acme' } }
    const without = await setup(team, { teamId: null })
    const err = await rejection(without.provider.checkAccess())
    expect(err.message).toMatch(/not found/)
    expect(err.hint).toMatch(/hosting.team/)
    await without.standin.close()
    standin = undefined
    const withTeam = await setup(team)
    await withTeam.provider.setEnv({ NEXT_PUBLIC_USE_STREAMING: 'false' }, ['production'])
    const live = await withTeam.provider.currentProductionDeployment()
    const d = await withTeam.provider.redeploy(live!, {})
    await withTeam.provider.waitForDeployment(d.id, { timeoutMs: 60_000 })
    expect(withTeam.standin.requests.every(r => r.query.teamId === 'team_abc')).toBe(true)
  })

  it('a team given by its slug is sent as ?slug= (Vercel takes teamId or slug)', async () => {
    const { standin, provider } = await setup(
      { project: { teamId: 'team_abc', teamSlug: 'acme' } },
      { teamId: 'acme' }
    )
    await provider.setEnv({ NEXT_PUBLIC_USE_STREAMING: 'false' }, ['production'])
    expect(standin.requests.every(r => r.query.slug === 'acme' && !r.query.teamId)).toBe(true)
  })

  it('fails clearly when the build ends in ERROR or the alias is not assigned', async () => {
    const { standin, provider } = await setup()
    const live = await provider.currentProductionDeployment()
    standin.nextDeploymentOutcome('ERROR')
    const d = await provider.redeploy(live!, {})
    const err = await rejection(provider.waitForDeployment(d.id, { timeoutMs: 60_000 }))
    expect(err.message).toMatch(/ended ERROR: BUILD_FAILED/)
    standin.nextDeploymentOutcome('aliasError')
    const d2 = await provider.redeploy(live!, {})
    const err2 = await rejection(provider.waitForDeployment(d2.id, { timeoutMs: 60_000 }))
    expect(err2.message).toMatch(/alias was not assigned/)
    expect(standin.liveDeployment()?.id).toBe(live!.id)
  })

  it('a BLOCKED deployment fails at once, saying it needs an approval, not at the timeout', async () => {
    const { standin, provider, sleeps } = await setup()
    const live = await provider.currentProductionDeployment()
    standin.nextDeploymentOutcome('BLOCKED')
    const d = await provider.redeploy(live!, {})
    const err = await rejection(provider.waitForDeployment(d.id, { timeoutMs: 600_000 }))
    expect(err.message).toMatch(/is BLOCKED/)
    expect(err.hint).toMatch(/Approve the deployment/)
    // Stopped at the first poll that saw it, long before the timeout.
    expect(sleeps.reduce((a, b) => a + b, 0)).toBeLessThan(60_000)
    expect(standin.liveDeployment()?.id).toBe(live!.id)
  })

  it('polls with the CLI schedule and stops at the timeout', async () => {
    const { provider, sleeps } = await setup({ ticks: { building: 1000 } })
    const live = await provider.currentProductionDeployment()
    const d = await provider.redeploy(live!, {})
    const err = await rejection(provider.waitForDeployment(d.id, { timeoutMs: 120_000 }))
    expect(err.message).toMatch(/not live after 2 min.*BUILDING/)
    expect(sleeps.slice(0, 15).every(ms => ms === 1000)).toBe(true)
    expect(sleeps).toContain(5000)
    expect(sleeps).toContain(15000)
    expect(sleeps.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(120_000)
    expect(pollInterval(0)).toBe(1000)
    expect(pollInterval(400_000)).toBe(30_000)
    const notFound = { kind: 'status' as const, status: 404, headers: new Headers() }
    expect(
      retryDecision({
        when: 'any-failure',
        failure: notFound,
        triesDone: 1,
        settings: DEFAULT_RETRY,
        nowMs: 0,
        deadlineMs: 1e9,
        random: () => 0
      }).retry
    ).toBe(false)
  })
})

describe('VercelProvider: issue #9 hosting defects and #11 round trips', () => {
  const others = (n: number) =>
    Array.from({ length: n }, (_, i) => ({ key: `OTHER_${i}`, value: `v${i}` }))

  it('reads the env list in one request, as documented (no limit, no until), however long', async () => {
    // Created first: a paged list, newest first, would hold it on its last page.
    const { standin, provider } = await setup({
      pageSize: 5,
      env: [{ key: 'NEXT_PUBLIC_USE_STREAMING', value: 'true' }, ...others(60)]
    })
    const changes = await provider.setEnv({ NEXT_PUBLIC_USE_STREAMING: 'false' }, ['production'])
    expect(changes[0]!.old).toEqual({ value: 'true', type: 'encrypted', readable: true })
    const lists = standin.requestsTo('/v10/projects/outline-app/env', 'GET')
    expect(lists).toHaveLength(1)
    expect(lists[0]!.query).not.toHaveProperty('until')
    expect(lists[0]!.query).not.toHaveProperty('limit')
  })

  it('an env list that says there is more fails, naming why, instead of being used half read', async () => {
    const { standin, provider } = await setup({ envNextPage: 1_700_000_000_000, env: others(3) })
    const err = await rejection(provider.readEnv(['NEXT_PUBLIC_USE_STREAMING']))
    expect(err.message).toBe(
      'the env list of vercel project outline-app: Vercel says there is more (pagination.next 1700000000000), but the endpoint has no parameter to ask for it: not read to the end, so it is not used'
    )
    expect(err.hint).toMatch(/set these variables in the Vercel dashboard/)
    expect(standin.requestsTo('/v10/projects/outline-app/env', 'GET')).toHaveLength(1)
  })

  it('names the variable of a 201 failure given only as envVarKey', async () => {
    const { standin, provider } = await setup()
    standin.failEnvKey('NEXT_PUBLIC_USE_STREAMING')
    const err = await rejection(
      provider.setEnv({ NEXT_PUBLIC_USE_STREAMING: 'false' }, ['production'])
    )
    expect(err.message).toMatch(/did not save NEXT_PUBLIC_USE_STREAMING \(ENV_CREATION_FAILED/)
    expect(err.message).not.toContain('?')
  })

  it('a 401 names the token variable, as a 403 does', async () => {
    const { provider } = await setup({ expiredToken: 'old-token-456' }, { token: 'old-token-456' })
    const err = await rejection(provider.checkAccess())
    expect(err.message).toMatch(/Vercel rejected the token \(401 unauthorized/)
    expect(err.hint).toMatch(/VERCEL_TOKEN/)
    expect(`${err.message} ${err.hint}`).not.toContain('old-token-456')
  })

  it('reads each entity once, decrypts only the named variables, reads concurrently', async () => {
    const { standin, provider } = await setup({
      latencyMs: 30,
      env: [{ key: 'NEXT_PUBLIC_USE_STREAMING', value: 'true' }, ...others(3)]
    })
    await provider.checkAccess()
    await Promise.all([
      provider.readEnv(['NEXT_PUBLIC_USE_STREAMING']),
      provider.currentProductionDeployment(),
      provider.autoAssignsProduction()
    ])
    await provider.setEnv({ NEXT_PUBLIC_USE_STREAMING: 'false' }, ['production'])
    const before = standin.requestsBeforeFirstWrite()
    expect(
      before.map(r => `${r.method} ${r.path.replace(/[^/]*_[a-z0-9]+$/, 'ID')}`).sort()
    ).toEqual([
      'GET /v1/projects/outline-app/env/ID',
      'GET /v10/projects/outline-app/env',
      'GET /v13/deployments/ID',
      'GET /v9/projects/outline-app'
    ])
    expect(standin.inFlightPeak()).toBeGreaterThanOrEqual(2)
  })
})

describe('VercelProvider: the shapes and states the API documents', () => {
  it('reads a list entry as documented: aliasAssigned a time or null, url null while uploading, readySubstate', () => {
    const listed = toDeployment({
      uid: 'dpl_1',
      url: null,
      readyState: 'READY',
      readySubstate: 'PROMOTED',
      created: 1_700_000_000_000,
      aliasAssigned: 1_700_000_060_000
    })
    expect(listed).toMatchObject({ id: 'dpl_1', url: '', aliasAssigned: true, staged: false })
    expect(listed.createdAt).toBe(1_700_000_000_000)
    expect(toDeployment({ uid: 'dpl_2', readyState: 'READY', aliasAssigned: null })).toMatchObject({
      aliasAssigned: false
    })
    expect(
      toDeployment({
        id: 'dpl_3',
        readyState: 'READY',
        readySubstate: 'STAGED',
        aliasAssigned: true
      })
    ).toMatchObject({ aliasAssigned: true, staged: true })
  })

  it('a finished production build is not "still on its way": list entries give aliasAssigned as a time', async () => {
    const { provider } = await setup()
    const since = Date.now() - 1
    const live = await provider.currentProductionDeployment()
    const d = await provider.redeploy(live!, {})
    await provider.waitForDeployment(d.id, { timeoutMs: 60_000 })
    expect(await provider.pendingProductionDeployments(since)).toEqual([])
  })

  it('promotes a staged build even when its generated aliases are already assigned', async () => {
    const { standin, provider } = await setup({ earlier: [{ ageMs: 3_600_000 }] })
    const live = await provider.currentProductionDeployment()
    standin.instantRollback()
    const d = await provider.redeploy(live!, {})
    // Built and aliased (its own URLs) before the first look: staged, serving no domain.
    standin.advance(10)
    expect(standin.deployments.find(x => x.id === d.id)).toMatchObject({ aliasAssigned: true })
    const done = await provider.waitForDeployment(d.id, { timeoutMs: 60_000, promote: true })
    expect(done.id).toBe(d.id)
    expect(standin.requestsTo(`/v10/projects/${standin.project.id}/promote/${d.id}`)).toHaveLength(
      1
    )
    expect(standin.liveDeployment()!.id).toBe(d.id)
    expect(standin.autoAssignsProduction()).toBe(true)
  })

  it('a staged build is not live, whatever aliasAssigned says', async () => {
    const { standin, provider } = await setup({ earlier: [{ ageMs: 3_600_000 }] })
    const live = await provider.currentProductionDeployment()
    const served = standin.instantRollback()
    const d = await provider.redeploy(live!, {})
    const err = await rejection(provider.waitForDeployment(d.id, { timeoutMs: 20_000 }))
    expect(err.message).toMatch(/not live after 20\.0 s \(last state: READY, staged\)/)
    expect(standin.liveDeployment()!.id).toBe(served.id)
  })

  it('an Instant Rollback goes to the documented v1 path; a skipped job fails at once', async () => {
    const { standin, provider, sleeps } = await setup({
      earlier: [{ ageMs: 3_600_000 }],
      rollbackOutcome: 'skipped'
    })
    const target = standin.deployments[0]!
    const err = await rejection(provider.rollBackTo(target.id, 60_000))
    expect(err.message).toBe(
      `Vercel could not roll production back to deployment ${target.id} (jobStatus skipped)`
    )
    expect(standin.requestsTo(/\/rollback\//).map(r => r.path)).toEqual([
      `/v1/projects/${standin.project.id}/rollback/${target.id}`
    ])
    expect(sleeps).toEqual([])
  })

  it('upserts a legacy `secret` variable as sensitive (the API refuses type secret)', async () => {
    const { standin, provider } = await setup({
      env: [{ key: 'API_KEY', value: 'old-secret', type: 'secret' }]
    })
    const [change] = await provider.setEnv({ API_KEY: 'new-secret' }, ['production'])
    expect(change!.old).toEqual({ value: undefined, type: 'secret', readable: false })
    const post = standin.requestsTo('/v10/projects/outline-app/env', 'POST')[0]!
    expect(post.status).toBe(201)
    expect(post.body).toEqual([
      { key: 'API_KEY', value: 'new-secret', type: 'sensitive', target: ['production'] }
    ])
  })

  it('a 402 (plan limit) and any other refused 4xx say what to fix', async () => {
    const { standin, provider } = await setup()
    const live = await provider.currentProductionDeployment()
    standin.failNext('/v13/deployments', {
      status: 402,
      code: 'payment_required',
      message: 'You have reached the limit of deployments per day',
      method: 'POST'
    })
    const limited = await rejection(provider.redeploy(live!, {}))
    expect(limited.message).toMatch(/^Vercel refused POST \/v13\/deployments: the plan does not/)
    expect(limited.hint).toMatch(/Vercel dashboard/)
    standin.failNext('/v13/deployments', { status: 409, code: 'conflict', method: 'POST' })
    const conflict = await rejection(provider.redeploy(live!, {}))
    expect(conflict.message).toMatch(/^Vercel refused POST \/v13\/deployments \(409 conflict/)
    expect(conflict.hint).toMatch(/^Fix what Vercel names/)
  })

  it('a value the token may not decrypt (decrypted: false) is unreadable, not its ciphertext', async () => {
    const { provider } = await setup({ decryptDenied: true })
    const [env] = await provider.readEnv(['NEXT_PUBLIC_USE_STREAMING'])
    expect(env!.value).toBeUndefined()
    const [change] = await provider.setEnv({ NEXT_PUBLIC_USE_STREAMING: 'false' }, ['production'])
    expect(change!.old).toMatchObject({ readable: false })
  })
})

describe('VercelProvider: a poll ends by its deadline even when a request hangs', () => {
  it('waitForDeployment: a status read that never answers ends the wait on time, saying why', async () => {
    const { standin, provider } = await setup()
    const live = standin.liveDeployment()!
    standin.hangNext(`/v13/deployments/${live.id}`, { times: 20 })
    const started = Date.now()
    const err = await rejection(provider.waitForDeployment(live.id, { timeoutMs: 400 }))
    expect(Date.now() - started).toBeLessThan(2_000)
    expect(err.message).toMatch(
      new RegExp(
        `^deployment ${live.id} not live after 400 ms .*; the last look got no answer in time: .*no answer within`
      )
    )
    expect(err.hint).toMatch(/raise flags.wait-timeout/)
  }, 10_000)

  it('rollBackTo: a project read that never answers ends the watch on time', async () => {
    const { standin, provider } = await setup({ earlier: [{ ageMs: 3_600_000 }] })
    const [earlier] = [...standin.deployments].sort((a, b) => a.createdAt - b.createdAt)
    await provider.checkAccess()
    standin.hangNext('/v9/projects/outline-app', { times: 20 })
    const started = Date.now()
    const err = await rejection(provider.rollBackTo(earlier!.id, 400))
    expect(Date.now() - started).toBeLessThan(2_000)
    expect(err.message).toMatch(
      /did not finish within 400 ms .*the last look got no answer in time/
    )
  }, 10_000)
})
