/**
 * Reverting any subset of a random history (each commit adds, changes or deletes its own file), in
 * either revert mode: every reverted commit's file is back to what it was before that commit,
 * every other commit's file is as the branch had it, and the push lands on the branch.
 */
import { afterEach, describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { commit, clone, git, makeRepo, push, remoteHead, type TestRepo } from './support/git.js'
import { runPhase } from './support/git-phase.js'

let repo: TestRepo | undefined
afterEach(() => {
  repo?.cleanup()
  repo = undefined
})

type Change = 'add' | 'change' | 'delete'

/** The content of `path` on the remote branch, or null when it does not exist. */
function remoteFile(r: TestRepo, path: string): string | null {
  try {
    return git(r.bare, 'show', `main:${path}`)
  } catch {
    return null
  }
}

describe('revert of random commit sets', () => {
  it('restores exactly the reverted commits’ files', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom<Change>('add', 'change', 'delete'), {
          minLength: 2,
          maxLength: 5
        }),
        fc.infiniteStream(fc.boolean()),
        fc.constantFrom<'single' | 'per-commit'>('single', 'per-commit'),
        async (changes, picks, mode) => {
          const base = Object.fromEntries(changes.map((_, i) => [`f${i}.txt`, `base ${i}`]))
          const r = makeRepo(base)
          repo = r
          // Per commit: its file, the content before and after (null: absent).
          const commits = changes.map((change, i) => {
            const path = change === 'add' ? `new${i}.txt` : `f${i}.txt`
            const before = change === 'add' ? null : `base ${i}`
            const after = change === 'delete' ? null : `${change} ${i}`
            const sha = commit(r.work, `${change} ${path}`, {
              [path]: after === null ? null : `${after}\n`
            })
            return { sha, path, before, after }
          })
          push(r.work)
          const flags = [...picks.take(commits.length)]
          const reverted = commits.filter((_, i) => flags[i])
          fc.pre(reverted.length > 0)
          const { result } = await runPhase({
            workdir: clone(r),
            runbook: { git: { revert: reverted.map(c => c.sha).join(' '), 'revert-mode': mode } }
          })
          expect(result!.status).toBe('succeeded')
          expect(remoteHead(r)).toBe(result!.outputs!['head-sha'])
          for (const c of commits) {
            const expected = reverted.includes(c) ? c.before : c.after
            expect([c.path, remoteFile(r, c.path)]).toEqual([c.path, expected])
          }
          r.cleanup()
          repo = undefined
        }
      ),
      { numRuns: 4 }
    )
  }, 900_000)
})
