import { afterEach, describe, expect, it } from '@jest/globals'
import { GitHubApiError, GitHubClient } from '../src/github/client.js'
import { startGitHubStandin, type GitHubStandin } from './support/github-standin.js'

let standin: GitHubStandin | undefined
afterEach(async () => {
  await standin?.close()
  standin = undefined
})

async function setup(token?: (s: GitHubStandin) => string) {
  standin = await startGitHubStandin({ issues: [7], variables: { ROLLBACK_MODE: 'off' } })
  const client = new GitHubClient({
    apiUrl: standin.url,
    token: token ? token(standin) : standin.token,
    owner: standin.owner,
    repo: standin.repo,
    fetch: globalThis.fetch,
    sleep: async () => {}
  })
  return { standin, client }
}

async function apiError(p: Promise<unknown>): Promise<GitHubApiError> {
  try {
    await p
  } catch (err) {
    expect(err).toBeInstanceOf(GitHubApiError)
    return err as GitHubApiError
  }
  throw new Error('expected a rejection')
}

describe('GitHub client against the stand-in', () => {
  it('creates and updates a comment, reacts, creates an issue', async () => {
    const { standin, client } = await setup()
    const c = await client.createComment(7, 'hello')
    await client.updateComment(c.id, 'bye')
    await client.addReaction(c.id, 'eyes')
    const issue = await client.createIssue({
      title: 'Incident',
      body: 'report',
      labels: ['incident']
    })
    expect(standin.comments[0]).toMatchObject({ body: 'bye', reactions: ['eyes'], issueNumber: 7 })
    expect(standin.issues.find(i => i.number === issue.number)).toMatchObject({
      labels: ['incident']
    })
    const r = standin.requests[0]!
    expect(r.authorization).toBe(`Bearer ${standin.token}`)
    expect(r.headers['x-github-api-version']).toBe('2022-11-28')
  })

  it('answers like GitHub: 401 bad credentials, 404 unknown issue, 422 validation', async () => {
    const bad = await setup(() => 'nope')
    const e401 = await apiError(bad.client.createComment(7, 'x'))
    expect(e401.status).toBe(401)
    expect(e401.message).toMatch(/Bad credentials/)
    await bad.standin.close()
    const { client } = await setup()
    expect((await apiError(client.createComment(99, 'x'))).status).toBe(404)
    const e422 = await apiError(client.createComment(7, ''))
    expect(e422.message).toMatch(/Validation Failed.*body missing_field/)
  })

  it('reads collaborator permission', async () => {
    const { client } = await setup()
    expect(await client.getPermission('octo-admin')).toEqual({
      permission: 'admin',
      user: 'octo-admin'
    })
    expect((await apiError(client.getPermission('stranger'))).status).toBe(404)
  })

  it('GITHUB_TOKEN cannot write variables; a fine-grained token can', async () => {
    const { client } = await setup()
    expect(await client.getVariable('ROLLBACK_MODE')).toMatchObject({ value: 'off' })
    expect(await client.getVariable('MISSING')).toBeUndefined()
    const e = await apiError(client.updateVariable('ROLLBACK_MODE', 'on'))
    expect(e.status).toBe(403)
    expect(e.hint).toMatch(/Variables: write/)
    await standin!.close()
    const pat = await setup(s => s.variablesToken)
    await pat.client.updateVariable('ROLLBACK_MODE', 'on')
    expect(pat.standin.variables.get('ROLLBACK_MODE')?.value).toBe('on')
  })

  it('retries a 5xx of a read or an edit after waiting, then succeeds; never repeats a POST', async () => {
    standin = await startGitHubStandin({ issues: [7] })
    const sleeps: number[] = []
    const client = new GitHubClient({
      apiUrl: standin.url,
      token: standin.token,
      owner: standin.owner,
      repo: standin.repo,
      fetch: globalThis.fetch,
      sleep: async ms => {
        sleeps.push(ms)
      }
    })
    const comment = await client.createComment(7, 'first')
    standin.failNext(/\/issues\/comments\/\d+$/, { status: 502, message: 'Server Error' })
    await client.updateComment(comment.id, 'after a blip')
    expect(sleeps).toEqual([5000])
    expect(standin.comments[0]!.body).toBe('after a blip')
    // A failed POST may have been processed: it is reported, not repeated (no double comment).
    standin.failNext(/\/issues\/7\/comments$/, { status: 502, message: 'Server Error' })
    await expect(client.createComment(7, 'maybe posted')).rejects.toThrow()
    expect(sleeps).toEqual([5000])
  })

  it('can inject 403 Resource not accessible by integration', async () => {
    const { standin, client } = await setup()
    standin.forbid(/\/issues\/7\/comments$/)
    const e = await apiError(client.createComment(7, 'x'))
    expect(e.hint).toMatch(/issues: write/)
    await client.createComment(7, 'x')
  })
})
