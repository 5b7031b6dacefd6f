import { afterEach, describe, expect, it } from '@jest/globals'
import { writeFileSync, chmodSync } from 'node:fs'
import { join } from 'node:path'
import { execGit, type GitRunner } from '../src/git/git-command-manager.js'
import { clone, commit, git, makeRepo, push, remoteHead, type TestRepo } from './support/git.js'
import { gitPhase } from '../src/phases/git.js'
import { phaseContext, runPhase, type PhaseRunOptions } from './support/git-phase.js'

let repo: TestRepo
afterEach(() => repo?.cleanup())

function history() {
  repo = makeRepo({ 'app.ts': 'polling\n' })
  const good = git(repo.work, 'rev-parse', 'HEAD')
  const a = commit(repo.work, 'streaming 1', { 'stream.ts': 'one\n' })
  const b = commit(repo.work, 'streaming 2', { 'app.ts': 'streaming\n' })
  push(repo.work)
  return { good, a, b }
}

const reset = (target: string, confirm?: string, runId = 'r1') => ({
  runbook: { git: { strategy: 'reset' } },
  request: { resetTo: target, confirm, runId }
})

/** Plans and preflights the git step, leaving the run to the test. */
async function preflightOnly(options: PhaseRunOptions) {
  const ctx = phaseContext(options)
  const steps = gitPhase.plan(ctx.runbook, ctx.request)
  const found = await gitPhase.preflight!(steps, ctx)
  return { ctx, steps, checked: found.checked?.get(steps[0]!.id) }
}

describe('git reset', () => {
  it('pushes the old head to a backup ref, then resets with a lease', async () => {
    const { good, a, b } = history()
    const { notes, result } = await runPhase({
      workdir: clone(repo),
      ...reset(good, good.slice(0, 7), 'run-42')
    })
    const planned = notes[0]!.changes!.join('\n')
    expect(planned).toContain('discarding 2 commit(s)')
    expect(planned).toContain(`${b.slice(0, 7)} streaming 2`)
    expect(remoteHead(repo)).toBe(good)
    expect(remoteHead(repo, 'refs/rollback/backup/run-42')).toBe(b)
    expect(result!.details!.discarded).toEqual([b, a])
    expect(result!.details!.backupRef).toBe('refs/rollback/backup/run-42')
    expect(result!.recovery![0]).toContain('git fetch origin refs/rollback/backup/run-42')
    expect(result!.outputs!['head-sha']).toBe(good)
  })

  it('drill pushes the reset result to a scratch branch, deletes it, and keeps main', async () => {
    const { good, b } = history()
    const { result } = await runPhase({
      workdir: clone(repo),
      mode: 'drill',
      ...reset(good, good, 'd1')
    })
    expect(result!.changed[0]).toContain('refs/rollback/drill/d1')
    expect(result!.changed.join('\n')).toContain('discarding 2 commit(s)')
    expect(remoteHead(repo)).toBe(b)
    expect(remoteHead(repo, 'refs/rollback/drill/d1')).toBeUndefined()
    expect(remoteHead(repo, 'refs/rollback/backup/d1')).toBeUndefined()
  })

  it('a rerun when the branch already equals the target does nothing', async () => {
    const { good } = history()
    await runPhase({ workdir: clone(repo), ...reset(good, good) })
    const again = await runPhase({ workdir: clone(repo), ...reset(good, good, 'r2') })
    expect(again.notes[0]!.changes![0]).toContain('nothing to reset')
    expect(again.result!.changed).toEqual([])
    expect(remoteHead(repo, 'refs/rollback/backup/r2')).toBeUndefined()
  })

  it.each([
    [undefined, /confirm: required for git-strategy reset/],
    ['abc', /confirm: "abc" is not a commit SHA/],
    ['1234567', /confirm: "1234567" does not match reset-to/]
  ])('refuses confirm=%s and changes nothing', async (confirm, message) => {
    const { good, b } = history()
    await expect(runPhase({ workdir: clone(repo), ...reset(good, confirm) })).rejects.toThrow(
      message
    )
    expect(remoteHead(repo)).toBe(b)
  })

  it('refuses a target that is not an ancestor of the branch', async () => {
    const { good, b } = history()
    git(repo.work, 'checkout', '--quiet', '-b', 'other', good)
    const side = commit(repo.work, 'side', { 'side.ts': 's\n' })
    push(repo.work, 'other')
    const err = await runPhase({ workdir: clone(repo), ...reset(side, side) }).catch(e => e)
    expect(err.message).toMatch(/reset-to: .* is not an ancestor of origin\/main/)
    expect(err.hint).toContain('git-strategy revert')
    expect(remoteHead(repo)).toBe(b)
  })

  it('a push racing the reset loses nothing: the lease is rejected, the branch unchanged', async () => {
    const { good } = history()
    let raced = ''
    const runner: GitRunner = async (args, options) => {
      if (args.some(a => a.startsWith('--force-with-lease='))) {
        raced = commit(repo.work, 'hotfix pushed meanwhile', { 'hotfix.ts': 'x\n' })
        push(repo.work)
      }
      return execGit(args, options)
    }
    const err = await runPhase({ workdir: clone(repo), runner, ...reset(good, good) }).catch(e => e)
    expect(err.message).toMatch(/someone pushed meanwhile.*the branch was not changed/)
    expect(err.hint).toContain('rerun')
    expect(remoteHead(repo)).toBe(raced)
    // The backup only duplicated commits still on the branch: it is removed again.
    expect(remoteHead(repo, 'refs/rollback/backup/r1')).toBeUndefined()
  })

  it('refuses to reset when the branch moved after the checks showed what it discards', async () => {
    const { good } = history()
    let pushedAfterChecks = ''
    let preflightDone = false
    const runner: GitRunner = async (args, options) => {
      // The first fetch of the run step (after preflight): someone pushes a hotfix just before.
      if (preflightDone && !pushedAfterChecks && args[0] === 'fetch') {
        pushedAfterChecks = commit(repo.work, 'hotfix after the plan', { 'hotfix.ts': 'x\n' })
        push(repo.work)
      }
      return execGit(args, options)
    }
    const workdir = clone(repo)
    const { ctx, steps, checked } = await preflightOnly({ workdir, runner, ...reset(good, good) })
    preflightDone = true
    const result = await gitPhase.run(steps[0]!, ctx, checked).catch((e: Error) => e)
    expect(result).toBeInstanceOf(Error)
    expect((result as Error).message).toMatch(/moved since the checks .* not shown in the plan/)
    expect(remoteHead(repo)).toBe(pushedAfterChecks)
    expect(remoteHead(repo, 'refs/rollback/backup/r1')).toBeUndefined()
  })

  it('keeps the backup ref when a racing force push took the old head off the branch', async () => {
    const { good, b } = history()
    const runner: GitRunner = async (args, options) => {
      if (args.some(a => a.startsWith('--force-with-lease='))) {
        git(repo.work, 'reset', '--quiet', '--hard', good)
        commit(repo.work, 'rewritten history', { 'other.ts': 'o\n' })
        git(repo.work, 'push', '--quiet', '--force', 'origin', 'main')
      }
      return execGit(args, options)
    }
    const err = await runPhase({ workdir: clone(repo), runner, ...reset(good, good) }).catch(e => e)
    expect(err.message).toMatch(/someone pushed meanwhile.*kept at refs\/rollback\/backup\/r1/)
    expect(remoteHead(repo, 'refs/rollback/backup/r1')).toBe(b)
  })

  it('works from a depth-1 checkout, deepening only as far as needed', async () => {
    const { good } = history()
    for (let i = 0; i < 60; i++) commit(repo.work, `later ${i}`, { 'later.ts': `${i}\n` })
    push(repo.work)
    const workdir = clone(repo, { depth: 1 })
    expect(git(workdir, 'rev-parse', '--is-shallow-repository')).toBe('true')
    const target = git(repo.work, 'rev-parse', 'HEAD~10')
    const { notes, result } = await runPhase({ workdir, ...reset(target, target) })
    const fetch = result!.details!.fetch as { commitsAfter: number; bytesFetched: number }
    expect(fetch.commitsAfter).toBeLessThan(40)
    expect(fetch.bytesFetched).toBeGreaterThan(0)
    expect(notes[0]!.changes!.join('\n')).toMatch(/shallow checkout deepened by \d+ commits/)
    expect(git(workdir, 'rev-parse', '--is-shallow-repository')).toBe('true')
    expect(remoteHead(repo)).toBe(target)
    expect(good).toHaveLength(40)
  })

  it('reports a push refused by a protected branch with the server message and a hint', async () => {
    const { good, b } = history()
    const hook = join(repo.bare, 'hooks', 'pre-receive')
    writeFileSync(
      hook,
      '#!/bin/sh\nwhile read old new ref; do\n  case "$ref" in refs/heads/main) echo "GH006: Protected branch update failed for refs/heads/main." >&2; exit 1;; esac\ndone\n'
    )
    chmodSync(hook, 0o755)
    const err = await runPhase({ workdir: clone(repo), ...reset(good, good) }).catch(e => e)
    expect(err.message).toContain('GH006: Protected branch update failed')
    expect(err.hint).toMatch(/protected/)
    expect(remoteHead(repo)).toBe(b)
  })
})
