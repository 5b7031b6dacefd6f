/**
 * Shallow checkouts (actions/checkout fetches depth 1): deepen the history only as far as the
 * commits we need, doubling the step each time (so at most ~2x what is needed), and measure what
 * was fetched.
 */
import type { GitSession } from './session.js'

export interface FetchStats {
  /** Whether the checkout was shallow when we started. */
  shallow: boolean
  /** The `--deepen` steps taken, in order. */
  deepenSteps: number[]
  /** Commits of the branch present locally before and after (both 0 for a full clone). */
  commitsBefore: number
  commitsAfter: number
  bytesFetched: number
}

export const FIRST_DEEPEN_STEP = 25

/**
 * Deepens the branch history until `ready()` holds or nothing is left to fetch. Returns whether
 * `ready()` held in the end, and what was fetched.
 */
export async function deepenUntil(
  session: GitSession,
  ready: () => Promise<boolean>
): Promise<{ ok: boolean; stats: FetchStats }> {
  const { git } = session
  const shallow = await git.isShallow()
  // Counting is only worth it when something may be fetched (a full clone never deepens).
  const commitsBefore = shallow ? await git.countCommits(session.tip) : 0
  const bytesBefore = shallow ? await git.objectBytes() : 0
  const deepenSteps: number[] = []
  let ok = await ready()
  let step = FIRST_DEEPEN_STEP
  while (!ok && (await git.isShallow())) {
    await git.fetch(session.remote, [`+refs/heads/${session.branch}:${session.tipRef}`], {
      deepen: step
    })
    deepenSteps.push(step)
    ok = await ready()
    step *= 2
  }
  const stats: FetchStats = {
    shallow,
    deepenSteps,
    commitsBefore,
    commitsAfter: deepenSteps.length ? await git.countCommits(session.tip) : commitsBefore,
    bytesFetched: deepenSteps.length ? Math.max(0, (await git.objectBytes()) - bytesBefore) : 0
  }
  return { ok, stats }
}

export function describeFetch(stats: FetchStats): string | undefined {
  if (stats.deepenSteps.length === 0) return undefined
  const kib = (stats.bytesFetched / 1024).toFixed(1)
  return (
    `shallow checkout deepened by ${stats.commitsAfter - stats.commitsBefore} commits ` +
    `(${stats.deepenSteps.length} fetch(es), ${kib} KiB) to reach the commits needed`
  )
}

/** Fetch statistics of one run, accumulated over its preflight and its run. */
export function mergeStats(first: FetchStats | undefined, second: FetchStats): FetchStats {
  if (!first) return second
  return {
    shallow: first.shallow,
    deepenSteps: [...first.deepenSteps, ...second.deepenSteps],
    commitsBefore: first.commitsBefore,
    commitsAfter: Math.max(first.commitsAfter, second.commitsAfter),
    bytesFetched: first.bytesFetched + second.bytesFetched
  }
}
