/**
 * A git session on the run's checkout: a command manager with a non-interactive environment,
 * authentication configured for the remote (and removed afterwards, whatever happens), and the
 * remote branch's current tip fetched into a private ref.
 */
import { RollbackError } from '../util/errors.js'
import { type RunContext } from '../model.js'
import { childEnv } from '../util/child-env.js'
import { Redactor } from '../util/redact.js'
import { configureAuth } from './auth.js'
import { checkBranch } from './inputs.js'
import {
  execGit,
  GitCommandError,
  GitCommandManager,
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
}

const runners = new WeakMap<RunContext, GitRunner>()

/** Lets tests and benchmarks observe (or interfere with) every git command of a run. */
export function useGitRunner(ctx: RunContext, runner: GitRunner): void {
  runners.set(ctx, runner)
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
 * also look up that remote's URL, in parallel with the check (each git start costs ~10 ms).
 */
async function openCheckout(
  ctx: RunContext,
  remote?: string
): Promise<{ git: GitCommandManager; remoteUrl?: string }> {
  const env = gitEnv(ctx.env)
  const git = new GitCommandManager(ctx.workdir, ctx.log, env, runners.get(ctx) ?? execGit)
  const [inside, remoteUrl] = await Promise.all([
    git.tryExec(['rev-parse', '--is-inside-work-tree']),
    remote === undefined ? undefined : git.remoteUrl(remote)
  ])
  if (inside.exitCode !== 0 || inside.stdout.trim() !== 'true') {
    throw new RollbackError(
      `${ctx.workdir} is not a git checkout`,
      'check out the repository first (actions/checkout) or point the run at the checkout'
    )
  }
  git.useFallbackIdentity(BOT)
  return { git, remoteUrl }
}

export async function createGit(ctx: RunContext): Promise<GitCommandManager> {
  return (await openCheckout(ctx)).git
}

export interface SessionTarget {
  remote: string
  branch: string
}

export async function withGitSession<T>(
  ctx: RunContext,
  target: SessionTarget,
  fn: (session: GitSession) => Promise<T>
): Promise<T> {
  const checkout = await openCheckout(ctx, target.remote)
  const git = checkout.git
  const remoteUrl = checkout.remoteUrl ?? urlOrFail(target.remote)
  const auth = await configureAuth(git, remoteUrl, ctx.secrets.githubToken, ctx.env.RUNNER_TEMP)
  try {
    await requireRemoteBranch(git, target)
    const tipRef = `refs/emergency-rollback/${target.branch}`
    await git.fetch(target.remote, [`+refs/heads/${target.branch}:${tipRef}`])
    const tip = (await git.revParse(tipRef)) ?? ''
    const session = { git, remote: target.remote, remoteUrl, branch: target.branch, tip, tipRef }
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
      'check the remote URL and that github-token can read the repository (contents: read)'
    )
  }
  if (!tip) {
    throw new RollbackError(
      `branch: "${target.branch}" does not exist on remote "${target.remote}"`,
      'set branch (input) or git.branch (runbook) to an existing branch'
    )
  }
}

/** A session on the remote branch a git or files step names (the branch name checked first). */
export function withStepSession<T>(
  step: { action: SessionTarget },
  ctx: RunContext,
  fn: (session: GitSession) => Promise<T>
): Promise<T> {
  checkBranch(step.action.branch)
  return withGitSession(ctx, { remote: step.action.remote, branch: step.action.branch }, fn)
}
