/**
 * Where the checkout's HEAD is, and putting it back: a drill builds its commits on a detached HEAD
 * and must leave the checkout on the branch (or commit) it found.
 */
import type { GitCommandManager } from './git-command-manager.js'

export type HeadPosition = { branch: string; sha?: string } | { sha: string }

export async function headPosition(git: GitCommandManager): Promise<HeadPosition | undefined> {
  const ref = await git.tryExec(['symbolic-ref', '--quiet', 'HEAD'])
  const sha = await git.revParse('HEAD')
  if (ref.exitCode === 0) {
    const branch = ref.stdout.trim().replace(/^refs\/heads\//, '')
    return { branch, sha }
  }
  return sha ? { sha } : undefined
}

/** Puts HEAD back where `headPosition` found it (an unborn branch stays unborn). */
export async function restoreHead(git: GitCommandManager, at: HeadPosition): Promise<void> {
  if ('branch' in at && at.sha)
    await git.exec(['switch', '--quiet', '--discard-changes', at.branch])
  else if ('branch' in at) await git.exec(['symbolic-ref', 'HEAD', `refs/heads/${at.branch}`])
  else await git.checkoutDetached(at.sha)
}
