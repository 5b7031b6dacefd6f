/**
 * Child processes get an allowlisted environment: the run's secrets, set in the parent with
 * distinctive values, never reach git, its hooks (on the checkout and on the remote) or the smoke
 * command, unless a command names a variable it needs.
 */
import { afterEach, describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Step } from '../src/model.js'
import { verifyPhase, type VerifyAction } from '../src/phases/verify.js'
import { childEnv } from '../src/util/child-env.js'
import { testContext } from './support/context.js'
import { clone, commit, makeRepo, push, remoteHead, type TestRepo } from './support/git.js'
import { runPhase } from './support/git-phase.js'

const SECRETS = {
  GITHUB_TOKEN: 'ghs_childEnvGithubToken0123456789',
  VERCEL_TOKEN: 'vercel-childenv-token-9876543210',
  DATABASE_URL: 'postgres://app:childenv-db-password-42@127.0.0.1:5432/app',
  ROLLBACK_WEBHOOK_URL: 'https://hooks.example.com/childenv-webhook-secret',
  AWS_SECRET_ACCESS_KEY: 'childenv-aws-secret-access-key',
  GIT_CONFIG_PARAMETERS: "'http.extraheader'='AUTHORIZATION: basic childenv-header'"
}
const SECRET_VALUES = ['ghs_childEnv', 'childenv-', 'childenv-header']

function expectNoSecret(text: string): void {
  for (const value of [...Object.values(SECRETS), ...SECRET_VALUES])
    expect(text).not.toContain(value)
}

let dirs: string[] = []
let repo: TestRepo | undefined
afterEach(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  dirs = []
  repo?.cleanup()
  repo = undefined
})

function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'child-env-'))
  dirs.push(dir)
  return dir
}

/** A hook script that appends its environment to `out`. */
function envHook(path: string, out: string): void {
  writeFileSync(path, `#!/bin/sh\nenv >> "${out}"\necho ---- >> "${out}"\ncat >/dev/null\nexit 0\n`)
  chmodSync(path, 0o755)
}

describe('childEnv', () => {
  it('keeps only the allowlist, locale, proxies and the names asked for; what we set wins', () => {
    const name = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,20}$/)
    fc.assert(
      fc.property(
        fc.dictionary(name, fc.string({ maxLength: 20 })),
        fc.subarray(['APP_URL', 'SMOKE_USER']),
        (random, pass) => {
          const parent: Record<string, string> = {
            ...random,
            ...SECRETS,
            APP_URL: 'http://app',
            SMOKE_USER: 'u'
          }
          const env = childEnv(parent, { pass, set: { GIT_TERMINAL_PROMPT: '0', PATH: '/x' } })
          const allowed =
            /^(PATH|HOME|USER|LOGNAME|SHELL|LANG|LANGUAGE|TZ|TMPDIR|TEMP|TMP|SYSTEMROOT|COMSPEC|PATHEXT|WINDIR|USERPROFILE|APPDATA|LOCALAPPDATA|(HTTPS?|NO|ALL)_PROXY|LC_.*)$/i
          for (const key of Object.keys(env)) {
            const ok = allowed.test(key) || pass.includes(key) || key === 'GIT_TERMINAL_PROMPT'
            expect(ok).toBe(true)
          }
          for (const key of Object.keys(SECRETS)) expect(env).not.toHaveProperty(key)
          for (const key of pass) expect(env[key]).toBe(parent[key])
          expect(env.PATH).toBe('/x')
        }
      )
    )
  })

  it('passes proxies and locale in either spelling', () => {
    const env = childEnv({ https_proxy: 'http://p:3128', NO_PROXY: 'localhost', LC_ALL: 'C.UTF-8' })
    expect(env).toEqual({ https_proxy: 'http://p:3128', NO_PROXY: 'localhost', LC_ALL: 'C.UTF-8' })
  })
})

describe('git child processes', () => {
  it('git and the hooks it runs, locally and on the remote, never see the run secrets', async () => {
    repo = makeRepo({ 'app.ts': 'polling\n' })
    const bad = commit(repo.work, 'streaming', { 'app.ts': 'streaming\n' })
    push(repo.work)
    const workdir = clone(repo)
    const out = join(scratch(), 'env.txt')
    // post-checkout runs on the checkout and trial worktree; pre-receive inside the remote.
    envHook(join(workdir, '.git', 'hooks', 'post-checkout'), out)
    envHook(join(repo.bare, 'hooks', 'pre-receive'), out)
    const { result } = await runPhase({
      workdir,
      runbook: { git: { revert: bad } },
      token: SECRETS.GITHUB_TOKEN,
      env: { ...process.env, ...SECRETS }
    })
    expect(result!.status).toBe('succeeded')
    expect(remoteHead(repo)).toBe(result!.outputs!['head-sha'])
    const seen = readFileSync(out, 'utf8')
    // Both hooks ran (several checkouts, one push) and saw a usable environment.
    expect(seen.split('----').length).toBeGreaterThanOrEqual(3)
    expect(seen).toMatch(/^PATH=/m)
    expect(seen).toContain('GIT_TERMINAL_PROMPT=0')
    expectNoSecret(seen)
  })
})

describe('smoke command', () => {
  const smoke = (run: string, env: string[]): Step<VerifyAction> => ({
    id: 'verify:smoke',
    phase: 'verify',
    title: 'smoke',
    changes: [],
    mutates: false,
    stage: 'main',
    action: { kind: 'smoke', run, timeoutMs: 10_000, env }
  })

  it('sees only the allowlist and the variables it names', async () => {
    const dir = scratch()
    const ctx = testContext({
      workdir: dir,
      env: { ...process.env, ...SECRETS, APP_URL: 'http://127.0.0.1:9/app' }
    })
    const named = await verifyPhase.run(smoke('env > named.txt', ['APP_URL']), ctx)
    const bare = await verifyPhase.run(smoke('env > bare.txt', []), ctx)
    expect([named.status, bare.status]).toEqual(['succeeded', 'succeeded'])
    const namedEnv = readFileSync(join(dir, 'named.txt'), 'utf8')
    const bareEnv = readFileSync(join(dir, 'bare.txt'), 'utf8')
    expect(namedEnv).toContain('APP_URL=http://127.0.0.1:9/app')
    expect(bareEnv).not.toContain('APP_URL')
    expect(bareEnv).toMatch(/^PATH=/m)
    for (const text of [namedEnv, bareEnv]) expectNoSecret(text)
  })

  it('gets a secret only when the runbook names it for the command', async () => {
    const dir = scratch()
    const ctx = testContext({ workdir: dir, env: { PATH: process.env.PATH, ...SECRETS } })
    await verifyPhase.run(smoke('env > db.txt', ['DATABASE_URL']), ctx)
    const env = readFileSync(join(dir, 'db.txt'), 'utf8')
    expect(env).toContain(`DATABASE_URL=${SECRETS.DATABASE_URL}`)
    expect(env).not.toContain(SECRETS.GITHUB_TOKEN)
    expect(env).not.toContain(SECRETS.VERCEL_TOKEN)
  })
})
