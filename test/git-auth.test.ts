import { afterEach, describe, expect, it } from '@jest/globals'
import { readdirSync, readFileSync } from 'node:fs'
import { execGit, type GitRunner } from '../src/git/git-command-manager.js'
import { basicCredential } from '../src/git/auth.js'
import { clone, commit, git, makeRepo, push, remoteHead, type TestRepo } from './support/git.js'
import { startGitHttpServer, type GitHttpServer } from './support/git-http.js'
import { runPhase } from './support/git-phase.js'

let repo: TestRepo
let server: GitHttpServer
afterEach(async () => {
  await server?.close()
  repo?.cleanup()
})

const TOKEN = 'ghs_SuperSecretToken1234567890abcdef'

/** Command lines and environments of every process, sampled until stop() is called. */
function watchProcesses() {
  const seen = new Set<string>()
  const sample = () => {
    for (const pid of readdirSync('/proc').filter(p => /^\d+$/.test(p))) {
      for (const file of ['cmdline', 'environ']) {
        try {
          seen.add(readFileSync(`/proc/${pid}/${file}`, 'utf8').replace(/\0/g, ' '))
        } catch {
          // The process ended between readdir and read.
        }
      }
    }
  }
  const timer = setInterval(sample, 2)
  return {
    stop: () => {
      clearInterval(timer)
      sample()
      return [...seen]
    }
  }
}

async function setup() {
  repo = makeRepo({ 'app.ts': 'polling\n' })
  const base = git(repo.work, 'rev-parse', 'HEAD')
  const bad = commit(repo.work, 'streaming', { 'app.ts': 'streaming\n' })
  push(repo.work)
  server = await startGitHttpServer(repo.root, TOKEN)
  const workdir = clone(repo)
  git(workdir, 'remote', 'set-url', 'origin', `${server.url}/remote.git`)
  return { base, bad, workdir }
}

describe('git push authentication over http (git http-backend)', () => {
  it('pushes with the token from a config file; the token is never in arguments or logs', async () => {
    const { bad, workdir } = await setup()
    const commands: string[] = []
    const runner: GitRunner = async (args, options) => {
      commands.push(args.join(' '))
      return execGit(args, options)
    }
    const watcher = watchProcesses()
    let processes: string[]
    let result
    let lines: string[]
    try {
      const run = await runPhase({
        workdir,
        runbook: { git: { revert: bad } },
        token: TOKEN,
        runner
      })
      result = run.result
      lines = run.ctx.log.lines
    } finally {
      processes = watcher.stop()
    }
    expect(result!.status).toBe('succeeded')
    expect(remoteHead(repo)).toBe(result!.outputs!['head-sha'])
    expect(server.authorizations.length).toBeGreaterThan(0)
    expect(commands.some(c => c.startsWith('push'))).toBe(true)
    expect(processes.some(p => p.includes('git-remote-http') || p.includes('remote-https'))).toBe(
      true
    )
    const secrets = [TOKEN, basicCredential(TOKEN)]
    for (const secret of secrets) {
      for (const text of [...commands, ...lines, ...processes]) expect(text).not.toContain(secret)
      expect(readFileSync(`${workdir}/.git/config`, 'utf8')).not.toContain(secret)
    }
    // The auth include was removed again.
    expect(readFileSync(`${workdir}/.git/config`, 'utf8')).not.toContain('rollback-auth-')
  })

  it('git uses push-token when given; github-token (the API token) never reaches git', async () => {
    const { bad, workdir } = await setup()
    const apiOnly = 'ghs_ApiOnlyWorkflowToken0987654321'
    const { result } = await runPhase({
      workdir,
      runbook: { git: { revert: bad } },
      token: apiOnly,
      pushToken: TOKEN
    })
    expect(result!.status).toBe('succeeded')
    expect(remoteHead(repo)).toBe(result!.outputs!['head-sha'])
    expect(server.authorizations.length).toBeGreaterThan(0)
    expect(server.authorizations.join('\n')).not.toContain(basicCredential(apiOnly))
  })

  it('overrides a stale checkout extraheader for the same host', async () => {
    const { bad, workdir } = await setup()
    git(
      workdir,
      'config',
      `http.${server.url}/.extraheader`,
      `AUTHORIZATION: basic ${basicCredential('stale')}`
    )
    const { result } = await runPhase({ workdir, runbook: { git: { revert: bad } }, token: TOKEN })
    expect(result!.status).toBe('succeeded')
  })

  it('a wrong token fails in preflight with a permissions hint, nothing changed', async () => {
    const { bad, workdir } = await setup()
    const err = await runPhase({
      workdir,
      runbook: { git: { revert: bad } },
      token: 'wrong-token-123'
    }).catch(e => e)
    expect(err.message).toMatch(/cannot reach git remote "origin"/)
    expect(err.hint).toMatch(/push-token, else github-token/)
    expect(err.message).not.toContain('wrong-token-123')
    expect(remoteHead(repo)).toBe(bad)
  })
})
