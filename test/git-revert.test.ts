import { afterEach, describe, expect, it } from '@jest/globals'
import { RollbackError } from '../src/model.js'
import {
  clone,
  commit,
  git,
  makeRepo,
  push,
  remoteHasPath,
  remoteHead,
  remoteLog,
  type TestRepo
} from './support/git.js'
import { runPhase } from './support/git-phase.js'

let repo: TestRepo
afterEach(() => repo?.cleanup())

/** base, then three "streaming" commits; returns their shas (oldest first). */
function history() {
  repo = makeRepo({ 'app.ts': 'polling\n', 'keep.ts': 'v2\n' })
  const base = git(repo.work, 'rev-parse', 'HEAD')
  const a = commit(repo.work, 'add stream route', { 'stream.ts': 'stream\n' })
  const b = commit(repo.work, 'switch app to streaming', { 'app.ts': 'streaming\n' })
  const c = commit(repo.work, 'add diagnostics', { 'diag/page.tsx': 'diag\n' })
  push(repo.work)
  return { base, a, b, c }
}

describe('git revert', () => {
  it('reverts a range newest first in one commit and pushes it', async () => {
    const { base, a, b, c } = history()
    const workdir = clone(repo)
    const { notes, result } = await runPhase({
      workdir,
      runbook: { git: { revert: `${base}..${c}` } },
      request: { runId: 'run-1' }
    })
    expect(notes[0]!.changes!.join('\n')).toContain('revert 3 commit(s) on origin/main')
    expect(notes[0]!.changes!.join('\n')).toContain(`${c.slice(0, 7)} add diagnostics`)
    expect(result!.status).toBe('succeeded')
    expect(result!.details!.reverted).toEqual([c, b, a])
    expect(remoteHead(repo)).toBe(result!.outputs!['head-sha'])
    expect(remoteLog(repo)[0]).toBe('Revert 3 commits (emergency rollback)')
    const message = git(repo.bare, 'log', '-1', '--format=%B', 'main')
    for (const sha of [a, b, c]) expect(message).toContain(`This reverts commit ${sha}.`)
    expect(message).toContain('run run-1')
    expect(git(repo.bare, 'show', 'main:app.ts')).toBe('polling')
    expect(remoteHasPath(repo, 'stream.ts')).toBe(false)
  })

  it('reverts a list of SHAs, one commit each in per-commit mode', async () => {
    const { a, c } = history()
    const workdir = clone(repo)
    const { result } = await runPhase({
      workdir,
      runbook: { git: { revert: `${a.slice(0, 8)}, ${c}`, 'revert-mode': 'per-commit' } }
    })
    expect(result!.details!.reverted).toEqual([c, a])
    expect(remoteLog(repo).slice(0, 2)).toEqual([
      'Revert "add stream route"',
      'Revert "add diagnostics"'
    ])
    expect(git(repo.bare, 'show', 'main:app.ts')).toBe('streaming')
  })

  it('a rerun after success changes nothing (already-reverted commits are skipped)', async () => {
    const { base, c } = history()
    const runbook = { git: { revert: `${base}..${c}` } }
    await runPhase({ workdir: clone(repo), runbook })
    const head = remoteHead(repo)
    const again = await runPhase({ workdir: clone(repo), runbook })
    expect(again.notes[0]!.changes![0]).toContain('nothing to revert')
    expect(again.result!.changed).toEqual([])
    expect(again.result!.details!.alreadyReverted).toHaveLength(3)
    expect(remoteHead(repo)).toBe(head)
  })

  it('skips commits reverted earlier by hand and reverts the rest', async () => {
    const { a, b } = history()
    git(repo.work, 'revert', '--no-edit', b)
    push(repo.work)
    const { result } = await runPhase({
      workdir: clone(repo),
      runbook: { git: { revert: `${a} ${b}` } }
    })
    expect(result!.details!.reverted).toEqual([a])
    expect(result!.details!.alreadyReverted).toEqual([expect.objectContaining({ sha: b })])
  })

  it('refuses a merge commit without a mainline, and reverts it with mainline: 1', async () => {
    const { c } = history()
    git(repo.work, 'checkout', '--quiet', '-b', 'feature')
    const f = commit(repo.work, 'feature work', { 'feature.ts': 'f\n' })
    git(repo.work, 'checkout', '--quiet', 'main')
    git(repo.work, 'merge', '--quiet', '--no-ff', '-m', 'Merge feature', 'feature')
    const merge = git(repo.work, 'rev-parse', 'HEAD')
    push(repo.work)
    const range = `${c}..${merge}`
    await expect(
      runPhase({ workdir: clone(repo), runbook: { git: { revert: range } } })
    ).rejects.toThrow(
      /revert: .* Merge feature" is a merge commit and needs a mainline parent|is a merge commit/
    )
    expect(remoteHead(repo)).toBe(merge)
    const { result } = await runPhase({
      workdir: clone(repo),
      runbook: { git: { revert: range, mainline: 1 } }
    })
    expect(result!.details!.reverted).toEqual([merge])
    expect(remoteHasPath(repo, 'feature.ts')).toBe(false)
    expect(f).toHaveLength(40)
  })

  it('a conflict aborts cleanly, names the paths and pushes nothing', async () => {
    const { b } = history()
    commit(repo.work, 'tune streaming', { 'app.ts': 'streaming v2\n' })
    push(repo.work)
    const before = remoteHead(repo)
    const workdir = clone(repo)
    const err = await runPhase({ workdir, runbook: { git: { revert: b } } }).catch(e => e)
    expect(err).toBeInstanceOf(RollbackError)
    expect(err.message).toMatch(/conflicts in app\.ts/)
    expect(err.message).toContain('working tree restored')
    expect(remoteHead(repo)).toBe(before)
    expect(git(workdir, 'status', '--porcelain')).toBe('')
    expect(git(workdir, 'rev-parse', 'HEAD')).toBe(before)
  })

  it('preflight finds the conflict in a throw-away worktree, before any phase mutates', async () => {
    const { b } = history()
    commit(repo.work, 'tune streaming', { 'app.ts': 'streaming v2\n' })
    push(repo.work)
    const workdir = clone(repo)
    const head = git(workdir, 'rev-parse', 'HEAD')
    await expect(
      runPhase({ workdir, runbook: { git: { revert: b } }, mode: 'preflight' })
    ).rejects.toThrow(/conflicts in app\.ts/)
    expect(git(workdir, 'worktree', 'list').split('\n')).toHaveLength(1)
    expect(git(workdir, 'rev-parse', 'HEAD')).toBe(head)
    expect(git(workdir, 'status', '--porcelain')).toBe('')
  })

  it('drill pushes the revert to a scratch branch and deletes it; main is untouched', async () => {
    const { base, c } = history()
    const { result } = await runPhase({
      workdir: clone(repo),
      runbook: { git: { revert: `${base}..${c}` } },
      request: { runId: 'drill-7', command: 'drill' },
      mode: 'drill'
    })
    expect(result!.changed[0]).toContain('pushed it to refs/rollback/drill/drill-7 and deleted it')
    expect(remoteHead(repo)).toBe(c)
    expect(remoteHead(repo, 'refs/rollback/drill/drill-7')).toBeUndefined()
  })

  it.each([
    ['not-a-sha', /revert: "not-a-sha" is not a SHA/],
    ['abc..def', /revert: "abc..def" is not a range of two SHAs/],
    ['deadbeefdeadbeef', /revert: commit deadbeefdeadbeef is not in the history/]
  ])('rejects bad input %s in preflight', async (spec, message) => {
    history()
    await expect(
      runPhase({ workdir: clone(repo), runbook: { git: { revert: spec } }, mode: 'preflight' })
    ).rejects.toThrow(message)
  })

  it('rejects an unknown branch, naming the field', async () => {
    const { c } = history()
    const err = await runPhase({
      workdir: clone(repo),
      runbook: { git: { revert: c } },
      request: { branch: 'nope' },
      mode: 'preflight'
    }).catch(e => e)
    expect(err.message).toBe('branch: "nope" does not exist on remote "origin"')
    expect(err.hint).toContain('branch')
  })

  it('accepts a remote given as a URL instead of a remote name', async () => {
    const { c } = history()
    const { result } = await runPhase({
      workdir: clone(repo),
      runbook: { git: { revert: c, remote: repo.url } }
    })
    expect(remoteHead(repo)).toBe(result!.outputs!['head-sha'])
    expect(remoteHasPath(repo, 'diag/page.tsx')).toBe(false)
  })

  it('rejects a reversed range', async () => {
    const { a, c } = history()
    await expect(
      runPhase({
        workdir: clone(repo),
        runbook: { git: { revert: `${c}..${a}` } },
        mode: 'preflight'
      })
    ).rejects.toThrow(/bad range/)
  })
})
