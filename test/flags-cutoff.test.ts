/**
 * `flags.instant.before` as the bad commit, against a real repository with a merged side branch:
 * for generated deployments (each from a commit of the history, one the checkout lacks, or none,
 * created at any time) the one served is the newest whose commit is neither the bad one nor a
 * descendant of it, falling back to the commit time where git cannot tell. The oracle is the
 * history's own parent map, not git.
 */
import { execFileSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { commitCutoff, cutoffFor as cutoffOf, resolveCommit } from '../src/phases/flags-cutoff.js'
import { newestQualifying } from '../src/providers/cutoff.js'
import type { Cutoff, Deployment } from '../src/providers/types.js'
import { createGit } from '../src/git/session.js'
import type { GitCommandManager } from '../src/git/git-command-manager.js'
import { recordingLogger } from './support/context.js'
import { clone, commitAt, git, IDENTITY, makeRepo, push, type TestRepo } from './support/git.js'

const HOUR = 3_600_000
const T0 = Date.UTC(2026, 11, 1, 8)

/** The history: main m0..m5, side s1, s2 forked from m1 and merged into m4. */
const PARENTS: Record<string, string[]> = {
  m0: [],
  m1: ['m0'],
  s1: ['m1'],
  s2: ['s1'],
  m2: ['m1'],
  m3: ['m2'],
  m4: ['m3', 's2'],
  m5: ['m4']
}
const AT: Record<string, number> = {
  m0: T0,
  m1: T0 + HOUR,
  s1: T0 + 1.5 * HOUR,
  m2: T0 + 2 * HOUR,
  s2: T0 + 2.5 * HOUR,
  m3: T0 + 3 * HOUR,
  m4: T0 + 4 * HOUR,
  m5: T0 + 5 * HOUR
}
const NAMES = Object.keys(PARENTS)

const isOrDescends = (name: string, bad: string): boolean =>
  name === bad || PARENTS[name]!.some(p => isOrDescends(p, bad))

let repo: TestRepo
let sha: Record<string, string>
let checkout: GitCommandManager

function mergeAt(cwd: string, branch: string, at: number): string {
  const date = `@${Math.floor(at / 1000)} +0000`
  execFileSync('git', ['merge', '--quiet', '--no-ff', '-m', `merge ${branch}`, branch], {
    cwd,
    env: { ...process.env, ...IDENTITY, GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date }
  })
  return git(cwd, 'rev-parse', 'HEAD')
}

beforeAll(async () => {
  repo = makeRepo()
  const w = repo.work
  sha = {}
  sha.m0 = commitAt(w, 'm0', AT.m0!)
  sha.m1 = commitAt(w, 'm1', AT.m1!)
  git(w, 'checkout', '--quiet', '-b', 'side')
  sha.s1 = commitAt(w, 's1', AT.s1!)
  sha.s2 = commitAt(w, 's2', AT.s2!)
  git(w, 'checkout', '--quiet', 'main')
  sha.m2 = commitAt(w, 'm2', AT.m2!)
  sha.m3 = commitAt(w, 'm3', AT.m3!)
  sha.m4 = mergeAt(w, 'side', AT.m4!)
  sha.m5 = commitAt(w, 'm5', AT.m5!)
  checkout = await createGit({ workdir: w, env: process.env, log: recordingLogger() })
}, 60_000)
afterAll(() => repo.cleanup())

const UNKNOWN = 'f'.repeat(40)

const deployment = fc.record({
  commit: fc.constantFrom<string | undefined>(...NAMES, 'unknown', undefined),
  createdAt: fc.integer({ min: T0 - HOUR, max: T0 + 6 * HOUR }),
  // Built but never served production (a staged build): no Instant Rollback target.
  staged: fc.boolean()
})

/** One cutoff per bad commit for all runs: its verdicts are remembered, as in a run. */
const cutoffs = new Map<string, Cutoff>()
function cutoffFor(bad: string): Cutoff {
  let cutoff = cutoffs.get(bad)
  if (!cutoff)
    cutoffs.set(bad, (cutoff = commitCutoff(checkout, { sha: sha[bad]!, committedAt: AT[bad]! })))
  return cutoff
}

describe('the bad commit as a cutoff', () => {
  it('resolves an abbreviated SHA to the full one and its committer time', async () => {
    expect(await resolveCommit(checkout, sha.m3!.slice(0, 9))).toEqual({
      sha: sha.m3,
      committedAt: AT.m3
    })
  })

  it('serves the newest deployment free of the bad commit that served production before: ancestry where known, else time', async () => {
    await fc.assert(
      fc.asyncProperty(
        // Before the fork, on main only, on the side branch, the merge (each git verdict costs a
        // git start, remembered per cutoff: fewer bad commits keep the test quick).
        fc.constantFrom('m1', 'm2', 's1', 'm4'),
        fc.array(deployment, { maxLength: 6 }),
        async (bad, drawn) => {
          const deployments: Deployment[] = drawn
            .map((d, i) => ({
              id: `dpl_${i}`,
              url: `d${i}.example`,
              state: 'READY',
              aliasAssigned: false,
              createdAt: d.createdAt,
              staged: d.staged,
              commitSha:
                d.commit === undefined
                  ? undefined
                  : d.commit === 'unknown'
                    ? UNKNOWN
                    : sha[d.commit]
            }))
            .sort((a, b) => b.createdAt - a.createdAt)
          const cutoff = cutoffFor(bad)
          const expected = deployments.find(d => {
            if (d.staged) return false
            const name = drawn[Number(d.id.slice(4))]!.commit
            if (name !== undefined && name !== 'unknown') return !isOrDescends(name, bad)
            return d.createdAt! < AT[bad]!
          })
          expect((await newestQualifying(deployments, cutoff))?.id).toBe(expected?.id)
        }
      ),
      { numRuns: 100 }
    )
  }, 120_000)
})

describe('the bad commit in a shallow checkout (actions/checkout fetches one commit)', () => {
  it('deepens the branch history until it holds the bad commit, and no further', async () => {
    const repo = makeRepo()
    try {
      // 60 old commits, a good one, the bad one, then 30 more: a depth-1 clone lacks the bad one.
      for (let i = 0; i < 60; i++) commitAt(repo.work, `old ${i}`, T0 - HOUR + i * 1000)
      const good2 = commitAt(repo.work, 'good', T0)
      const bad = commitAt(repo.work, 'the bad change', T0 + HOUR)
      for (let i = 0; i < 30; i++) commitAt(repo.work, `after ${i}`, T0 + 2 * HOUR + i * 1000)
      push(repo.work)
      const workdir = clone(repo, { depth: 1 })
      const checkout = { workdir, env: process.env, log: recordingLogger() }
      const instant = { commit: bad.slice(0, 10), checks: [] }
      await expect(cutoffOf(instant, checkout)).rejects.toThrow(/is not in the checkout/)

      const history = { remote: 'origin', branch: 'main' }
      const cutoff = await cutoffOf({ ...instant, history }, checkout)
      expect(cutoff.label).toBe(`built before commit ${bad}`)
      expect(await cutoff.clean!(good2)).toBe(true)
      expect(await cutoff.clean!(bad)).toBe(false)
      // Deepened in steps, not unshallowed: the first commit of the branch is still not there.
      expect(git(workdir, 'rev-parse', '--is-shallow-repository')).toBe('true')
      expect(Number(git(workdir, 'rev-list', '--count', 'HEAD'))).toBeLessThan(92)

      const unknown = { commit: 'f'.repeat(40), checks: [], history }
      await expect(cutoffOf(unknown, checkout)).rejects.toThrow(/is not in the checkout/)
    } finally {
      repo.cleanup()
    }
  }, 60_000)
})
