/**
 * A git session on the run's checkout: a command manager with a non-interactive environment,
 * authentication configured for the remote (and removed afterwards, whatever happens), and the
 * remote branch's current tip fetched into a private ref.
 */
import { RollbackError } from '../util/errors.js'
import type { Logger } from '../util/logger.js'
import type { MutationGate } from '../util/mutation-gate.js'
import { childEnv } from '../util/child-env.js'
import { Redactor } from '../util/redact.js'
import { configureAuth } from './auth.js'
import { checkBranch } from './inputs.js'
import { branchMoved } from './pinned-head.js'
import {
  execGit,
  GitCommandError,
  GitCommandManager,
  notACheckout,
  type GitRunner
} from './git-command-manager.js'

export interface GitSession {
  git: GitCommandManager
  remote: string
  remoteUrl: string
  branch: string
  /** The remote branch's sha when the session started. */
  tip: string
  /** Local ref holding `tip` (fetched). */
  tipRef: string
  /** The checkout's untracked entries, read while the fetch ran (`readUntracked` sessions). */
  untracked?: Promise<string[]>
}

export interface SessionOptions {
  /**
   * Read the checkout's untracked entries alongside the fetch (for preflights that check nothing
   * untracked is in the way): the fetch mostly waits on the remote, and each git start forks this
   * process, so the read costs the session almost nothing there.
   */
  readUntracked?: boolean
  /**
   * The head the branch must still be at (what the plan was made against; default: the step's
   * `expectHead`): a branch that moved ends the session with the new commits named.
   */
  expectTip?: string
}

/** The run's checkout and what git needs to work in it. */
export interface Checkout {
  workdir: string
  /** Environment for git child processes. */
  env: Readonly<Record<string, string | undefined>>
  /**
   * Token for https remotes (configured for the session, removed afterwards): the push-token
   * input when given, else github-token. Only git uses it.
   */
  githubToken?: string
  /** Where temporary files and worktrees go (RUNNER_TEMP in Actions). */
  tempDir?: string
  /** Runs every git command: tests and benchmarks observe (or interfere with) them here. */
  runner?: GitRunner
  log: Logger
  /** The run's mutation gate: every push asks it first. */
  gate?: MutationGate
}

/** Committer identity when the checkout has none (GitHub runners have none by default). */
const BOT = {
  name: 'github-actions[bot]',
  email: '41898282+github-actions[bot]@users.noreply.github.com'
}

/** Variables of the run's environment git may see: ssh access and which config files it reads. */
const GIT_PASSES = [
  'SSH_AUTH_SOCK',
  'GIT_SSH',
  'GIT_SSH_COMMAND',
  'GIT_CONFIG_NOSYSTEM',
  'GIT_CONFIG_GLOBAL',
  'GIT_CONFIG_SYSTEM'
]

/**
 * git's environment: the allowlist (no tokens, no database URL: authentication is a config file,
 * see auth.ts) plus what makes it non-interactive and bounded.
 */
export function gitEnv(parent: Readonly<Record<string, string | undefined>>) {
  return childEnv(parent, {
    pass: GIT_PASSES,
    set: {
      GIT_TERMINAL_PROMPT: '0',
      GCM_INTERACTIVE: 'never',
      GIT_LITERAL_PATHSPECS: '1',
      // A stalled network must fail the step, not hang the run until the job times out.
      GIT_HTTP_LOW_SPEED_LIMIT: '1000',
      GIT_HTTP_LOW_SPEED_TIME: '60',
      GIT_SSH_COMMAND: parent.GIT_SSH_COMMAND ?? 'ssh -o BatchMode=yes -o ConnectTimeout=30'
    }
  })
}

/**
 * A command manager on the run's checkout, once the checkout is confirmed to be one. `remote`:
 * also look up that remote's URL. Each git start costs a fork of this process, so with a remote
 * one command answers both: `remote get-url` succeeds only in a repository. Only when it fails
 * (not a repository, or a remote given as a URL) does a second command tell the two apart. A
 * repository without a work tree is refused by the first command that needs one (`exec`).
 */
async function openCheckout(
  checkout: Checkout,
  remote?: string
): Promise<{ git: GitCommandManager; remoteUrl?: string }> {
  const env = gitEnv(checkout.env)
  const runner = checkout.runner ?? execGit
  const git = new GitCommandManager(checkout.workdir, checkout.log, env, runner, {}, checkout.gate)
  const remoteUrl = remote === undefined ? undefined : await git.remoteUrl(remote)
  if (remoteUrl === undefined) {
    const inside = await git.tryExec(['rev-parse', '--is-inside-work-tree'])
    if (inside.exitCode !== 0 || inside.stdout.trim() !== 'true')
      throw notACheckout(checkout.workdir)
  }
  git.useFallbackIdentity(BOT)
  return { git, remoteUrl }
}

export async function createGit(checkout: Checkout): Promise<GitCommandManager> {
  return (await openCheckout(checkout)).git
}

export interface SessionTarget {
  remote: string
  branch: string
}

export async function withGitSession<T>(
  checkout: Checkout,
  target: SessionTarget,
  fn: (session: GitSession) => Promise<T>,
  options: SessionOptions = {}
): Promise<T> {
  const opened = await openCheckout(checkout, target.remote)
  const git = opened.git
  const remoteUrl = opened.remoteUrl ?? urlOrFail(target.remote)
  const auth = await configureAuth(git, remoteUrl, checkout.githubToken, checkout.tempDir)
  try {
    const tipRef = `refs/emergency-rollback/${target.branch}`
    const untracked = options.readUntracked ? git.untrackedPaths() : undefined
    // A failed fetch ends the session first; the read's own failure surfaces where it is used.
    untracked?.catch(() => undefined)
    await fetchTip(git, target, tipRef)
    const tip = (await git.revParse(tipRef)) ?? ''
    if (options.expectTip && tip !== options.expectTip)
      throw await branchMoved(git, `${target.remote}/${target.branch}`, options.expectTip, tip)
    const session = {
      git,
      remote: target.remote,
      remoteUrl,
      branch: target.branch,
      tip,
      tipRef,
      untracked
    }
    return await fn(session)
  } finally {
    await auth.remove()
  }
}

function urlOrFail(remote: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(remote) || remote.startsWith('/')) return remote
  throw new RollbackError(
    `git remote "${remote}" is not configured in the checkout`,
    'set git.remote in the runbook to a remote name of the checkout (usually origin) or a URL'
  )
}

/**
 * Fetches the remote branch into `tipRef`. Only when that fails does `git ls-remote` say why (the
 * remote unreachable or refusing the token, or no such branch): one round trip to the remote, not
 * two, in every run that reaches it.
 */
async function fetchTip(git: GitCommandManager, target: SessionTarget, tipRef: string) {
  try {
    await git.fetch(target.remote, [`+refs/heads/${target.branch}:${tipRef}`])
  } catch (err) {
    await requireRemoteBranch(git, target)
    throw err
  }
}

/** Reachability and auth check (`git ls-remote`), and the branch must exist. */
async function requireRemoteBranch(git: GitCommandManager, target: SessionTarget): Promise<void> {
  let tip: string | undefined
  try {
    tip = await git.lsRemote(target.remote, `refs/heads/${target.branch}`)
  } catch (err) {
    const detail = new Redactor().redact(
      err instanceof GitCommandError ? err.output.stderr.trim() : String(err)
    )
    throw new RollbackError(
      `cannot reach git remote "${target.remote}": ${detail}`,
      'check the remote URL and that the push token (push-token, else github-token) can read the repository (contents: read)'
    )
  }
  if (!tip) {
    throw new RollbackError(
      `branch: "${target.branch}" does not exist on remote "${target.remote}"`,
      'set branch (input) or git.branch (runbook) to an existing branch'
    )
  }
}

/**
 * A session on the remote branch a git or files step names (the branch name checked first), at
 * the head its plan was made against when the step names one.
 */
export function withStepSession<T>(
  step: { action: SessionTarget & { expectHead?: string } },
  checkout: Checkout,
  fn: (session: GitSession) => Promise<T>,
  options: SessionOptions = {}
): Promise<T> {
  checkBranch(step.action.branch)
  const target = { remote: step.action.remote, branch: step.action.branch }
  const expectTip = options.expectTip ?? step.action.expectHead
  return withGitSession(checkout, target, fn, { ...options, expectTip })
}
