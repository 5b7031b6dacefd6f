/**
 * Pushes, and turns a rejection into an operator-fit RollbackError: the server's own message plus
 * a hint (lease lost to a racing push, protected branch, token permissions), never a stack trace.
 */
import { RollbackError } from '../util/errors.js'
import type { GitCommandManager, GitOutput, PushOptions } from './git-command-manager.js'

export interface PushTarget {
  remote: string
  src: string
  /** Full destination ref, e.g. refs/heads/main. */
  dst: string
}

export async function pushOrExplain(
  git: GitCommandManager,
  target: PushTarget,
  options: PushOptions = {}
): Promise<void> {
  const out = await git.push(target.remote, target.src, target.dst, options)
  if (out.exitCode === 0) return
  throw explainPushFailure(target, out, options)
}

/** The server's words: `remote:` lines, porcelain rejection reasons, error/fatal lines. */
export function serverMessage(out: GitOutput): string {
  const lines = `${out.stdout}\n${out.stderr}`.split('\n').map(l => l.trim())
  const picked = lines.filter(
    l => /^remote:\s*\S/.test(l) || /^!\t/.test(l) || /^(error|fatal):/.test(l)
  )
  return [...new Set(picked.map(l => l.replace(/^!\t/, '').replace(/\t/g, ' ')))].join('\n')
}

export function explainPushFailure(
  target: PushTarget,
  out: GitOutput,
  options: PushOptions
): RollbackError {
  const text = `${out.stdout}\n${out.stderr}`
  const server = serverMessage(out) || text.trim()
  const where = `${target.remote} ${target.dst}`
  if (/stale info/.test(text) && options.lease) {
    return new RollbackError(
      `push to ${where} refused: someone pushed meanwhile (the lease expected ${options.lease.expected.slice(0, 7)}); the branch was not changed`,
      'look at what was pushed, then rerun: the rollback starts again from the new head'
    )
  }
  if (/\[rejected\]|fetch first|non-fast-forward/.test(text)) {
    return new RollbackError(
      `push to ${where} rejected: the branch moved while the rollback ran\n${server}`,
      'rerun the rollback: it starts again from the new head'
    )
  }
  if (/remote rejected|protected|hook declined/i.test(text)) {
    return new RollbackError(
      `push to ${where} was rejected by the server:\n${server}`,
      'the branch is probably protected: allow the rollback actor to push (or force-push, for reset) in the branch rules, or use git-strategy revert, which needs no force push; if the server names a missing permission (contents: write, workflows), grant it to github-token'
    )
  }
  if (/\b(401|403)\b|permission|denied|authentication|could not read username/i.test(text)) {
    return new RollbackError(
      `push to ${where} was refused by the server:\n${server}`,
      'the token needs write access to the repository: give github-token `contents: write` (workflow `permissions:`), or use a token of an account allowed to push'
    )
  }
  return new RollbackError(`push to ${where} failed:\n${server}`, 'check the remote and the token')
}
