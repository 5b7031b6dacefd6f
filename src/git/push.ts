/**
 * The push with lease: every push of a run goes through here and names the exact value it expects
 * the remote ref to hold (`--force-with-lease=<ref>:<sha>`, or "must not exist yet"). A branch
 * someone moved or rewound after we looked is refused, never fast-forwarded from its new tip (which
 * would bring back commits they removed). A rejection becomes an operator-fit RollbackError: the
 * server's own message plus a hint per cause, never a stack trace.
 */
import { RollbackError } from '../util/errors.js'
import type { GitCommandManager, GitOutput } from './git-command-manager.js'

export interface LeasedPush {
  remote: string
  /** Local revision pushed (HEAD or a sha). */
  src: string
  /** Full destination ref, e.g. refs/heads/main. */
  dst: string
  /** What `dst` must hold on the remote for the push to go ahead; null: it must not exist. */
  expected: string | null
}

export async function pushWithLease(git: GitCommandManager, push: LeasedPush): Promise<void> {
  const out = await git.push(push.remote, push.src, push.dst, push.expected)
  if (out.exitCode === 0) return
  throw explainPushFailure(push, out)
}

/** Deletes a remote ref if it still holds `expected`; returns whether it was deleted. */
export async function deleteWithLease(
  git: GitCommandManager,
  target: { remote: string; dst: string; expected: string }
): Promise<boolean> {
  const out = await git.push(target.remote, '', target.dst, target.expected)
  return out.exitCode === 0
}

/** The server's words: `remote:` lines, porcelain rejection reasons, error/fatal lines. */
export function serverMessage(out: GitOutput): string {
  const lines = `${out.stdout}\n${out.stderr}`.split('\n').map(l => l.trim())
  const picked = lines.filter(
    l => /^remote:\s*\S/.test(l) || /^!\t/.test(l) || /^(error|fatal):/.test(l)
  )
  return [...new Set(picked.map(l => l.replace(/^!\t/, '').replace(/\t/g, ' ')))].join('\n')
}

interface Rejection {
  where: string
  expected: string | null
  server: string
}

const short = (sha: string) => sha.slice(0, 7)

/** Our lease did not hold: the ref is not where we saw it (checked by git before sending). */
function leaseLost({ where, expected }: Rejection): RollbackError {
  const was = expected ? `the lease expected ${short(expected)}` : 'the lease expected no such ref'
  return new RollbackError(
    `push to ${where} refused: someone pushed meanwhile (${was}; the ref was moved, reset or created since we looked); the branch was not changed`,
    'look at what was pushed, then rerun: the rollback starts again from the new head'
  )
}

/** The server saw the ref change between its advertisement and our update (a concurrent push). */
function serverRace({ where, server }: Rejection): RollbackError {
  return new RollbackError(
    `push to ${where} lost a race on the server: another push changed the ref at the same moment; the branch was not changed\n${server}`,
    'look at what was pushed, then rerun: the rollback starts again from the new head'
  )
}

function branchMoved({ where, server }: Rejection): RollbackError {
  return new RollbackError(
    `push to ${where} rejected: the branch moved while the rollback ran\n${server}`,
    'rerun the rollback: it starts again from the new head'
  )
}

/** A branch protection rule or a server-side hook (pre-receive, update) refused the update. */
function protectedRef({ where, server }: Rejection): RollbackError {
  return new RollbackError(
    `push to ${where} was refused by a branch protection rule or server hook:\n${server}`,
    'the branch is protected: allow the rollback actor to push (or force-push, for reset) in the branch rules, or use a token of an account that may; git-strategy revert needs no force push'
  )
}

function noPermission({ where, server }: Rejection): RollbackError {
  return new RollbackError(
    `push to ${where} was refused by the server:\n${server}`,
    'the token needs write access to the repository: give the push token (push-token, else github-token) Contents: read and write (for GITHUB_TOKEN, `contents: write` in the workflow `permissions:`), or use a token of an account allowed to push'
  )
}

function remoteRejected({ where, server }: Rejection): RollbackError {
  return new RollbackError(
    `push to ${where} was rejected by the server:\n${server}`,
    'read the server message; if it names a missing permission (contents: write, workflows), grant it to the push token (push-token, else github-token)'
  )
}

/** Causes in the order they are told apart (a server race also says "remote rejected"). */
const CAUSES: [RegExp, (r: Rejection) => RollbackError][] = [
  [/\(stale info\)/, leaseLost],
  [
    /failed to update ref|cannot lock ref|incorrect old value|is at [0-9a-f]+ but expected/i,
    serverRace
  ],
  [/\(fetch first\)|\(non-fast-forward\)/, branchMoved],
  [/protected branch|GH006|hook declined/i, protectedRef],
  [/\b(401|403)\b|permission|denied|authentication|could not read username/i, noPermission],
  [/\[remote rejected\]/, remoteRejected]
]

export function explainPushFailure(push: LeasedPush, out: GitOutput): RollbackError {
  const text = `${out.stdout}\n${out.stderr}`
  const rejection = {
    where: `${push.remote} ${push.dst}`,
    expected: push.expected,
    server: serverMessage(out) || text.trim()
  }
  const cause = CAUSES.find(([pattern]) => pattern.test(text))
  if (cause) return cause[1](rejection)
  return new RollbackError(
    `push to ${rejection.where} failed:\n${rejection.server}`,
    'check the remote and the token'
  )
}
