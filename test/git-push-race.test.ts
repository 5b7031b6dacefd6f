/**
 * The push with lease against real git: someone moves or rewinds the branch while the rollback
 * runs (at a chosen moment, or at every moment), and a server that sees the ref change under it.
 * Whatever happens, a commit someone else put on the branch (or took off it) is never undone by
 * our push: the branch ends where they left it, or on a commit built on top of it.
 */
import { afterEach, describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { chmodSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { execGit, type GitRunner } from '../src/git/git-command-manager.js'
import { gitPhase } from '../src/phases/git.js'
import {
  clone,
  commit,
  git,
  makeRepo,
  push,
  remoteHead,
  remoteLog,
  type TestRepo
} from './support/git.js'
import { phaseContext, runPhase } from './support/git-phase.js'

let repo: TestRepo | undefined
afterEach(() => {
  repo?.cleanup()
  repo = undefined
})

/** base, then two bad commits; the branch is at `b`. */
function history() {
  repo = makeRepo({ 'app.ts': 'polling\n', 'other.ts': 'o\n' })
  const base = git(repo.work, 'rev-parse', 'HEAD')
  const a = commit(repo.work, 'bad 1', { 'stream.ts': 'stream\n' })
  const b = commit(repo.work, 'bad 2', { 'app.ts': 'streaming\n' })
  push(repo.work)
  return { repo, base, a, b }
}

type Interference = 'none' | 'push' | 'rewind'

/** What someone else does to the remote branch; returns the head they leave. */
function interfere(r: TestRepo, kind: Interference, base: string): string | undefined {
  if (kind === 'none') return undefined
  if (kind === 'push') {
    git(r.work, 'pull', '--quiet', '--ff-only', 'origin', 'main')
    commit(r.work, 'hotfix pushed meanwhile', { [`hotfix-${Date.now()}.ts`]: 'x\n' })
    push(r.work)
  } else {
    // A manual reset: the bad commits are taken off the branch by force.
    git(r.work, 'push', '--quiet', '--force', 'origin', `${base}:refs/heads/main`)
  }
  return remoteHead(r)
}

const isPushToMain = (args: string[]) =>
  args[0] === 'push' && args.some(a => a.endsWith(':refs/heads/main'))

describe('push with lease', () => {
  it('a branch rewound between our fetch and our push is not fast-forwarded back', async () => {
    const { repo: r, base, b } = history()
    let rewound: string | undefined
    const runner: GitRunner = async (args, options) => {
      if (isPushToMain(args) && !rewound) rewound = interfere(r, 'rewind', base)
      return execGit(args, options)
    }
    const err = await runPhase({
      workdir: clone(r),
      runbook: { git: { revert: b } },
      runner
    }).catch(e => e)
    expect(err.message).toMatch(/someone pushed meanwhile .*the branch was not changed/)
    expect(err.hint).toContain('rerun')
    expect(remoteHead(r)).toBe(base)
    expect(remoteLog(r)).toEqual(['initial commit'])
  })

  it('the files step leases the head it saw too', async () => {
    const { repo: r, base } = history()
    let rewound: string | undefined
    const runner: GitRunner = async (args, options) => {
      if (isPushToMain(args) && !rewound) rewound = interfere(r, 'rewind', base)
      return execGit(args, options)
    }
    const err = await runPhase({
      workdir: clone(r),
      runbook: { files: { remove: ['stream.ts'] } },
      phase: 'files',
      runner
    }).catch(e => e)
    expect(err.message).toMatch(/someone pushed meanwhile/)
    expect(remoteHead(r)).toBe(base)
  })

  it('a ref changed on the server during our push is a race, not a protected branch', async () => {
    const { repo: r, b } = history()
    git(r.work, 'checkout', '--quiet', '-b', 'elsewhere')
    const other = commit(r.work, 'pushed by someone else', { 'x.ts': 'x\n' })
    push(r.work, 'elsewhere')
    // The server's ref moves after it advertised it to us and before it applies our update.
    const hook = join(r.bare, 'hooks', 'pre-receive')
    writeFileSync(hook, `#!/bin/sh\ncat >/dev/null\nprintf '%s\\n' ${other} > refs/heads/main\n`)
    chmodSync(hook, 0o755)
    const err = await runPhase({ workdir: clone(r), runbook: { git: { revert: b } } }).catch(e => e)
    expect(err.message).toMatch(/lost a race on the server.*the branch was not changed/s)
    expect(err.message).not.toMatch(/protect/)
    expect(err.hint).toContain('rerun')
    expect(remoteHead(r)).toBe(other)
  })

  it('at any moment of the run, another push or a rewind is never undone', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: 40 }),
        fc.constantFrom<Interference>('push', 'rewind', 'none'),
        fc.constantFrom<'revert' | 'reset'>('revert', 'reset'),
        async (moment, kind, strategy) => {
          const { repo: r, base, a, b } = history()
          try {
            const workdir = clone(r)
            const request =
              strategy === 'reset'
                ? { gitStrategy: 'reset' as const, resetTo: base, confirm: base }
                : { revert: `${a} ${b}` }
            // `moment` picks one of the run's git commands (preflight's are not counted).
            let running = false
            let count = 0
            let theirs: string | undefined
            const runner: GitRunner = async (args, options) => {
              if (running && count++ === moment) theirs = interfere(r, kind, base)
              return execGit(args, options)
            }
            const ctx = phaseContext({ workdir, runbook: { git: {} }, request, runner })
            const steps = gitPhase.plan(ctx.runbook, ctx.request)
            const found = await gitPhase.preflight!(steps, ctx)
            running = true
            const checked = found.checked?.get(steps[0]!.id)
            const outcome = await gitPhase.run(steps[0]!, ctx, checked).catch((e: Error) => e)
            const final = remoteHead(r)!
            if (theirs === undefined) {
              expect(outcome).not.toBeInstanceOf(Error)
              return
            }
            // Their head is the branch, or an ancestor of what we pushed on top of it.
            if (final !== theirs) git(r.bare, 'merge-base', '--is-ancestor', theirs, final)
            if (outcome instanceof Error) expect(final).toBe(theirs)
          } finally {
            r.cleanup()
            repo = undefined
          }
        }
      ),
      { numRuns: 5 }
    )
  }, 600_000)
})
