/**
 * A branch that moved after its plan was made: a run that starts from a head its plan (and its
 * approval) never saw would push on top of commits nobody looked at. Says what moved it.
 */
import { RollbackError } from '../util/errors.js'
import type { GitCommandManager } from './git-command-manager.js'

/** How many of the new commits the error names (the rest are counted). */
const LISTED = 5

const short = (sha: string) => sha.slice(0, 7)

/** The error for `where` (remote/branch) now at `tip` instead of `expected`: the new commits named. */
export async function branchMoved(
  git: GitCommandManager,
  where: string,
  expected: string,
  tip: string
): Promise<RollbackError> {
  return new RollbackError(
    `branch: ${where} moved since the plan (${short(expected)} -> ${short(tip)}): ${await whatMoved(git, expected, tip)}; nothing was changed`,
    'trigger the rollback again so that it plans against the new head (and is approved again): post the /rollback command again, run the workflow again, or with the CLI plan again and pass its branch-head as --expect-head'
  )
}

async function whatMoved(git: GitCommandManager, expected: string, tip: string): Promise<string> {
  // The planned head may be unknown here (another job's checkout saw it): then say so.
  const known = (await git.revParse(expected)) !== undefined
  if (!known) return 'the planned head is not in this checkout, so the new commits cannot be listed'
  if (!(await git.isAncestor(expected, tip)))
    return 'the planned head is no longer on the branch (it was reset or rewritten)'
  const commits = await git.log([`${expected}..${tip}`])
  const listed = commits.slice(0, LISTED).map(c => `${short(c.sha)} ${c.subject}`)
  const more = commits.length > LISTED ? `, and ${commits.length - LISTED} more` : ''
  return `${commits.length} new commit(s): ${listed.join('; ')}${more}`
}
