/**
 * A drill given no commits reverts (or resets past) the range the runbook names for drills:
 * `last: N` (the branch's newest N commits) or `since: <tag>`. Resolved here to SHAs against the
 * session's remote tip, so the revert/reset code sees exactly what a real run would be given.
 */
import { RollbackError } from '../util/errors.js'
import { deepenUntil } from './history.js'
import { describeDrillRange, type GitAction } from './inputs.js'
import type { GitSession } from './session.js'

/** The action with `revert` (or `reset-to`) filled in from its drill range; others unchanged. */
export async function withDrillRange(s: GitSession, action: GitAction): Promise<GitAction> {
  const range = action.drillRange
  if (!range) return action
  const base = 'last' in range ? await lastBase(s, range.last) : await sinceBase(s, range.since)
  if (base === s.tip) {
    throw new RollbackError(
      `git.drill: ${describeDrillRange(range)} of ${s.remote}/${s.branch} is empty`,
      'name a range with at least one commit (e.g. git.drill.last: 5)'
    )
  }
  if (action.strategy === 'reset') return { ...action, resetTo: base }
  return { ...action, revert: `${base}..${s.tip}` }
}

async function lastBase(s: GitSession, count: number): Promise<string> {
  const rev = `${s.tip}~${count}`
  const found = await deepenUntil(s, async () => (await s.git.revParse(rev)) !== undefined)
  const base = found.ok ? await s.git.revParse(rev) : undefined
  if (base) return base
  throw new RollbackError(
    `git.drill.last: ${s.remote}/${s.branch} has fewer than ${count + 1} commits`,
    'lower git.drill.last so that the range leaves at least one commit'
  )
}

async function sinceBase(s: GitSession, tag: string): Promise<string> {
  const local = 'refs/emergency-rollback/drill-since'
  const fetched = await s.git.tryExec([
    'fetch',
    '--quiet',
    '--no-tags',
    s.remote,
    `+refs/tags/${tag}:${local}`
  ])
  const base = fetched.exitCode === 0 ? await s.git.revParse(`${local}^{commit}`) : undefined
  if (!base) {
    throw new RollbackError(
      `git.drill.since: tag "${tag}" does not exist on remote "${s.remote}"`,
      'name a tag that exists on the remote (git push origin <tag>), or use git.drill.last'
    )
  }
  const reached = await deepenUntil(s, () => s.git.isAncestor(base, s.tip))
  if (reached.ok) return base
  throw new RollbackError(
    `git.drill.since: tag "${tag}" is not on ${s.remote}/${s.branch}`,
    'name a tag on the branch the drill rolls back, or use git.drill.last'
  )
}
