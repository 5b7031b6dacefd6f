/**
 * `flags.instant.before` as the providers' Cutoff: a time, or the bad commit. A commit is resolved
 * in the run's checkout, whose history is deepened first when it is shallow (actions/checkout
 * fetches one commit) and lacks the commit; an unknown one fails preflight. A deployment built
 * from it or from a descendant does not qualify, one built from any other commit the checkout has
 * does, and one whose commit the checkout lacks (or the platform does not record) falls back to
 * the time.
 */
import { RollbackError } from '../util/errors.js'
import { deepenUntil } from '../git/history.js'
import { createGit, withGitSession, type Checkout } from '../git/session.js'
import type { GitCommandManager } from '../git/git-command-manager.js'
import type { Cutoff } from '../providers/types.js'
import type { InstantAction } from './flags-instant.js'

/** What a platform may record as a deployment's commit and git may be asked about. */
const SHA = /^[0-9a-f]{7,40}$/i

export interface BadCommit {
  /** Full SHA, as resolved in the checkout. */
  sha: string
  /** Committer time, epoch ms: nothing created before it can contain the commit. */
  committedAt: number
}

export function timeCutoff(before?: number): Cutoff {
  return before === undefined
    ? { label: 'created before the live deployment' }
    : { label: `created before ${new Date(before).toISOString()}`, before }
}

/** The cutoff `action` means; a commit is looked up in `checkout` (RollbackError when unknown). */
export async function cutoffFor(action: InstantAction, checkout: Checkout): Promise<Cutoff> {
  if (action.commit === undefined) return timeCutoff(action.before)
  const git = await openCheckout(action.commit, checkout)
  if (action.history && !(await git.revParse(action.commit)) && (await git.isShallow())) {
    const given = action.commit
    await withGitSession(checkout, action.history, session =>
      deepenUntil(session, async () => (await session.git.revParse(given)) !== undefined)
    )
  }
  return commitCutoff(git, await resolveCommit(git, action.commit))
}

async function openCheckout(given: string, checkout: Checkout): Promise<GitCommandManager> {
  try {
    return await createGit(checkout)
  } catch (err) {
    if (!(err instanceof RollbackError)) throw err
    throw new RollbackError(
      `flags.instant.before names commit ${given}, but ${checkout.workdir} is not a git checkout to look it up in`,
      'Check out the repository first (actions/checkout with fetch-depth: 0), or give flags.instant.before as a time.'
    )
  }
}

export async function resolveCommit(git: GitCommandManager, given: string): Promise<BadCommit> {
  const sha = await git.revParse(given)
  if (!sha)
    throw new RollbackError(
      `flags.instant.before: commit ${given} is not in the checkout`,
      'Give the SHA of the bad commit as `git log` on the branch shows it, and check out enough history to hold it (actions/checkout fetch-depth: 0).'
    )
  const seconds = Number((await git.exec(['log', '-1', '--format=%ct', sha])).trim())
  return { sha, committedAt: seconds * 1000 }
}

export function commitCutoff(git: GitCommandManager, bad: BadCommit): Cutoff {
  const verdicts = new Map<string, Promise<boolean | undefined>>()
  // One git start per commit: the bad commit counts as its own ancestor; an exit above 1 means
  // git does not know the commit (then the time decides).
  const judge = async (sha: string) => {
    if (!SHA.test(sha)) return undefined
    const { exitCode } = await git.tryExec(['merge-base', '--is-ancestor', bad.sha, sha])
    return exitCode > 1 ? undefined : exitCode === 1
  }
  return {
    label: `built before commit ${bad.sha}`,
    before: bad.committedAt,
    clean(sha) {
      let verdict = verdicts.get(sha)
      if (!verdict) verdicts.set(sha, (verdict = judge(sha)))
      return verdict
    }
  }
}
