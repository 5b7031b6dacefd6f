/**
 * A typed wrapper around the git CLI, one method per git operation (modelled on actions/checkout's
 * GitCommandManager). Commands run through @actions/exec with `silent: true`; each command line is
 * logged through the run's logger at debug level. Secrets never appear in arguments: push/fetch
 * authentication lives in a config file (see auth.ts).
 */
import { getExecOutput } from '@actions/exec'
import { which } from '@actions/io'
import { RollbackError } from '../util/errors.js'
import type { Logger } from '../util/logger.js'
import type { MutationGate } from '../util/mutation-gate.js'
import { Redactor } from '../util/redact.js'

/** Hides passwords in URLs (a remote may be written with credentials). */
const urls = new Redactor()

export interface GitOutput {
  exitCode: number
  stdout: string
  stderr: string
}

export interface GitRunOptions {
  cwd: string
  env: Record<string, string>
  /** Written to git's standard input (batch commands). */
  input?: string
}

/** Runs `git <args>`; replaceable so tests can observe every invocation. */
export type GitRunner = (args: string[], options: GitRunOptions) => Promise<GitOutput>

/**
 * git's path, looked up once: @actions/exec would search PATH again for every command (a stat per
 * directory), and a run starts many.
 */
let gitPath: Promise<string> | undefined

export const execGit: GitRunner = async (args, { input, ...options }) =>
  getExecOutput(await (gitPath ??= which('git', true)), args, {
    ...options,
    input: input === undefined ? undefined : Buffer.from(input),
    silent: true,
    ignoreReturnCode: true
  })

/** The run's directory is no work tree of a git repository. */
export function notACheckout(workdir: string): RollbackError {
  return new RollbackError(
    `${workdir} is not a git checkout`,
    'check out the repository first (actions/checkout) or point the run at the checkout'
  )
}

export class GitCommandError extends Error {
  constructor(
    readonly args: string[],
    readonly output: GitOutput
  ) {
    super(`git ${subcommand(args)} failed (exit ${output.exitCode}): ${lastLines(output.stderr)}`)
    this.name = 'GitCommandError'
  }
}

/** One ref update of a push: `src` (empty: delete) to `dst`, if `dst` holds `expected` (null: absent). */
export interface RefUpdate {
  src: string
  dst: string
  expected: string | null
}

export interface CommitInfo {
  sha: string
  parents: string[]
  subject: string
}

/** A committer's name and email. */
export interface Identity {
  name: string
  email: string
}

/** Shared by a manager and those made from it with `at`. */
interface IdentityState {
  fallback?: Identity
  applied?: Promise<void>
}

export class GitCommandManager {
  constructor(
    readonly workdir: string,
    private readonly logger: Logger,
    private readonly env: Record<string, string>,
    private readonly runner: GitRunner = execGit,
    private readonly identity: IdentityState = {},
    /** Asked before every push; absent only where no run is involved (tests of git itself). */
    private readonly gate?: MutationGate
  ) {}

  /** The same manager (logger, environment, runner, identity) working in another directory. */
  at(workdir: string): GitCommandManager {
    return new GitCommandManager(
      workdir,
      this.logger,
      this.env,
      this.runner,
      this.identity,
      this.gate
    )
  }

  /**
   * Commits fall back to `identity` for the name and the email that neither the checkout nor the
   * user has configured. The configuration is read once, before the first commit: many runs (a
   * plan with nothing to revert, say) never commit, and every git start costs ~10 ms.
   */
  useFallbackIdentity(identity: Identity): void {
    this.identity.fallback = identity
  }

  private applyFallbackIdentity(): Promise<void> {
    const { fallback } = this.identity
    if (!fallback) return Promise.resolve()
    this.identity.applied ??= this.configMatching('^user\\.(name|email)$').then(configured => {
      // The environment is shared with the managers made by `at`: this applies to all of them.
      if (!configured.get('user.name')) {
        Object.assign(this.env, {
          GIT_AUTHOR_NAME: fallback.name,
          GIT_COMMITTER_NAME: fallback.name
        })
      }
      if (!configured.get('user.email')) {
        Object.assign(this.env, {
          GIT_AUTHOR_EMAIL: fallback.email,
          GIT_COMMITTER_EMAIL: fallback.email
        })
      }
    })
    // A failed read (git could not start, say) is tried again by the next commit.
    this.identity.applied.catch(() => (this.identity.applied = undefined))
    return this.identity.applied
  }

  /** Runs git and returns its output whatever the exit code; `input` goes to its stdin. */
  async tryExec(args: string[], input?: string): Promise<GitOutput> {
    this.logger.debug(`git ${urls.redact(args.join(' '))}`)
    return this.runner(args, { cwd: this.workdir, env: this.env, input })
  }

  /** Runs git and throws GitCommandError on a non-zero exit. */
  async exec(args: string[], input?: string): Promise<string> {
    const output = await this.tryExec(args, input)
    if (output.exitCode !== 0) {
      // A repository without a work tree (bare, or its .git directory) passes the checks that need
      // only a repository; the first command that needs files says so in git's words.
      if (/must be run in a work tree/.test(output.stderr)) throw notACheckout(this.workdir)
      throw new GitCommandError(args, output)
    }
    return output.stdout
  }

  async revParse(rev: string): Promise<string | undefined> {
    const out = await this.tryExec(['rev-parse', '--verify', '--quiet', `${rev}^{commit}`])
    return out.exitCode === 0 ? out.stdout.trim() : undefined
  }

  async treeOf(rev: string): Promise<string> {
    return (await this.exec(['rev-parse', '--verify', `${rev}^{tree}`])).trim()
  }

  async isShallow(): Promise<boolean> {
    return (await this.exec(['rev-parse', '--is-shallow-repository'])).trim() === 'true'
  }

  async isAncestor(ancestor: string, descendant: string): Promise<boolean> {
    const out = await this.tryExec(['merge-base', '--is-ancestor', ancestor, descendant])
    if (out.exitCode > 1) throw new GitCommandError(['merge-base'], out)
    return out.exitCode === 0
  }

  async mergeBase(revs: string[]): Promise<string | undefined> {
    if (revs.length === 1) return revs[0]
    const out = await this.tryExec(['merge-base', '--octopus', ...revs])
    return out.exitCode === 0 ? out.stdout.trim() : undefined
  }

  /** Commits in `revs` (rev-list syntax), newest first, with parents and subjects. */
  async log(revs: string[], options: { firstParent?: boolean } = {}): Promise<CommitInfo[]> {
    const args = ['log', '--topo-order', '--format=%H%x00%P%x00%s']
    if (options.firstParent) args.push('--first-parent')
    const out = await this.exec([...args, ...revs, '--'])
    return out
      .split('\n')
      .filter(line => line.length > 0)
      .map(line => {
        const [sha = '', parents = '', subject = ''] = line.split('\0')
        return { sha, parents: parents.split(' ').filter(Boolean), subject }
      })
  }

  /** Full commit messages of `revs`, newest first. */
  async messages(revs: string[]): Promise<{ sha: string; body: string }[]> {
    const out = await this.exec(['log', '--format=%H%x00%B%x1e', ...revs, '--'])
    return out
      .split('\x1e')
      .map(chunk => chunk.replace(/^\n+/, ''))
      .filter(chunk => chunk.includes('\0'))
      .map(chunk => {
        const [sha = '', body = ''] = chunk.split('\0')
        return { sha, body }
      })
  }

  async countCommits(rev: string): Promise<number> {
    return Number((await this.exec(['rev-list', '--count', rev])).trim())
  }

  /** Bytes of object storage (packs + loose objects), to measure what a fetch brought in. */
  async objectBytes(): Promise<number> {
    const out = await this.exec(['count-objects', '-v'])
    const kib = (key: string) => Number(new RegExp(`^${key}: (\\d+)`, 'm').exec(out)?.[1] ?? 0)
    return (kib('size') + kib('size-pack')) * 1024
  }

  async remoteUrl(remote: string): Promise<string | undefined> {
    const out = await this.tryExec(['remote', 'get-url', remote])
    return out.exitCode === 0 ? out.stdout.trim() : undefined
  }

  /** The sha a remote branch points at, or undefined when the branch does not exist. */
  async lsRemote(remote: string, ref: string): Promise<string | undefined> {
    const out = await this.exec(['ls-remote', remote, ref])
    const line = out.split('\n').find(l => l.endsWith(`\t${ref}`))
    return line?.split('\t')[0]
  }

  /** Every remote ref matching one of `patterns` (full names or globs such as refs/x/*), to SHA. */
  async lsRemoteRefs(remote: string, patterns: string[]): Promise<Map<string, string>> {
    const out = await this.exec(['ls-remote', remote, ...patterns])
    const refs = new Map<string, string>()
    for (const line of out.split('\n')) {
      const [sha, ref] = line.trim().split('\t')
      if (sha && ref) refs.set(ref, sha)
    }
    return refs
  }

  async fetch(remote: string, refspecs: string[], options: { deepen?: number } = {}) {
    // No `git maintenance` after the fetch: one more process, for a checkout the job throws away.
    const args = [
      'fetch',
      '--no-tags',
      '--no-recurse-submodules',
      '--no-auto-maintenance',
      '--quiet'
    ]
    if (options.deepen) args.push(`--deepen=${options.deepen}`)
    await this.exec([...args, remote, ...refspecs])
  }

  async isClean(): Promise<boolean> {
    const out = await this.exec(['status', '--porcelain', '--untracked-files=no'])
    return out.trim() === ''
  }

  async checkoutDetached(rev: string): Promise<void> {
    await this.exec(['-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--detach', rev])
  }

  async addWorktree(path: string, rev: string): Promise<void> {
    await this.exec(['worktree', 'add', '--quiet', '--detach', path, rev])
  }

  async removeWorktree(path: string): Promise<void> {
    await this.tryExec(['worktree', 'remove', '--force', path])
    await this.tryExec(['worktree', 'prune'])
  }

  async resetHard(rev: string): Promise<void> {
    await this.exec(['reset', '--quiet', '--hard', rev])
  }

  /**
   * Reverts commits, in the order given, into the index and working tree (no commit). On a
   * conflict returns the commit that conflicted (REVERT_HEAD) and the conflicting paths.
   */
  async revertNoCommit(
    shas: string[],
    mainline?: number
  ): Promise<{ conflict?: { sha: string; paths: string[] } }> {
    const args = ['revert', '--no-commit']
    if (mainline !== undefined) args.push('-m', String(mainline))
    const out = await this.tryExec([...args, ...shas])
    if (out.exitCode === 0) return {}
    const paths = await this.conflictedPaths()
    if (paths.length === 0) throw new GitCommandError(['revert', ...shas], out)
    const sha = (await this.revParse('REVERT_HEAD')) ?? shas[0] ?? ''
    return { conflict: { sha, paths } }
  }

  /** Drops an interrupted revert and restores the working tree to `rev`. */
  async abortRevert(rev: string): Promise<void> {
    await this.tryExec(['revert', '--quit'])
    await this.resetHard(rev)
  }

  /** Paths as they are (`-z`: no C-style quoting of non-ASCII names). */
  async conflictedPaths(): Promise<string[]> {
    return splitNul(await this.exec(['diff', '--name-only', '-z', '--diff-filter=U']))
  }

  /**
   * Untracked paths of the working tree (not ignored ones, which git overwrites freely); an
   * untracked directory is one entry ending in `/`.
   */
  async untrackedPaths(): Promise<string[]> {
    const out = await this.exec(['ls-files', '-z', '--others', '--exclude-standard', '--directory'])
    return splitNul(out)
  }

  /** Paths that differ between two trees (whole trees: `--no-renames`, no pathspec). */
  async changedPaths(from: string, to: string): Promise<string[]> {
    return splitNul(await this.exec(['diff', '--name-only', '-z', '--no-renames', from, to, '--']))
  }

  async hasStagedChanges(): Promise<boolean> {
    const out = await this.tryExec(['diff', '--cached', '--quiet'])
    return out.exitCode === 1
  }

  async commit(message: string): Promise<string> {
    await this.applyFallbackIdentity()
    await this.exec(['commit', '--quiet', '--no-verify', '-m', message])
    return (await this.revParse('HEAD')) ?? ''
  }

  /** A parentless commit of the empty tree with `message`, not on any branch (lock refs). */
  async commitEmptyTree(message: string): Promise<string> {
    await this.applyFallbackIdentity()
    const tree = (await this.exec(['hash-object', '-t', 'tree', '-w', '/dev/null'])).trim()
    return (await this.exec(['commit-tree', tree, '-m', message])).trim()
  }

  /** Whether `path` (file or directory) exists in the tree of `rev`. */
  async pathExists(rev: string, path: string): Promise<boolean> {
    return (await this.tryExec(['cat-file', '-e', `${rev}:${path}`])).exitCode === 0
  }

  /**
   * Which of `paths` (files or directories) exist in the tree of `rev`: one `cat-file --batch-check`
   * for all of them, as `pathExists` would answer each (every git start costs ~10 ms). A path with
   * a line break cannot be a line of the batch: it is asked on its own.
   */
  async existingPaths(rev: string, paths: readonly string[]): Promise<Set<string>> {
    const batched = paths.filter(path => !/[\r\n]/.test(path))
    const alone = paths.filter(path => !batched.includes(path))
    const existing = new Set<string>()
    if (batched.length) {
      const input = batched.map(path => `${rev}:${path}\n`).join('')
      // Each line answers one input line: `found`, or the name followed by `missing`/`ambiguous`.
      const lines = (await this.exec(['cat-file', '--batch-check=found'], input)).split('\n')
      batched.forEach((path, i) => lines[i] === 'found' && existing.add(path))
    }
    for (const path of alone) if (await this.pathExists(rev, path)) existing.add(path)
    return existing
  }

  async remove(path: string): Promise<void> {
    await this.exec(['rm', '-r', '--quiet', '--ignore-unmatch', '--', path])
  }

  /**
   * Pushes `src` to `dst` (an empty `src` deletes it) only if the remote's `dst` holds `expected`
   * (null: only if it does not exist); returns git's output so the caller can explain a refusal.
   * There is no push without a lease: see push.ts.
   */
  async push(remote: string, src: string, dst: string, expected: string | null) {
    return this.pushAtomic(remote, [{ src, dst, expected }])
  }

  /** Several leased updates (as `push`) in one push that the remote applies all or none of. */
  async pushAtomic(remote: string, updates: RefUpdate[]) {
    for (const { src, dst } of updates) {
      this.gate?.assertOpen(`push ${src ? 'to' : 'a deletion of'} ${remote} ${dst}`)
    }
    const atomic = updates.length > 1 ? ['--atomic'] : []
    const leases = updates.map(u => `--force-with-lease=${u.dst}:${u.expected ?? ''}`)
    const specs = updates.map(u => `${u.src}:${u.dst}`)
    return this.tryExec(['push', '--porcelain', ...atomic, ...leases, remote, ...specs])
  }

  /** The effective values of the config keys matching `pattern` (one git call for several). */
  async configMatching(pattern: string): Promise<Map<string, string>> {
    const out = await this.tryExec(['config', '--null', '--get-regexp', pattern])
    const values = new Map<string, string>()
    if (out.exitCode !== 0) return values
    for (const entry of out.stdout.split('\0')) {
      const newline = entry.indexOf('\n')
      // A later entry (local over global) is the effective one.
      if (newline > 0) values.set(entry.slice(0, newline), entry.slice(newline + 1))
    }
    return values
  }

  async addLocalConfig(key: string, value: string): Promise<void> {
    await this.exec(['config', '--local', '--add', key, value])
  }

  async unsetLocalConfig(key: string, value: string): Promise<void> {
    await this.tryExec(['config', '--local', '--fixed-value', '--unset-all', key, value])
  }
}

/** `checkout` of `-c advice.detachedHead=false checkout ...`. */
function subcommand(args: string[]): string {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '-c') i++
    else if (!args[i]!.startsWith('-')) return args[i]!
  }
  return ''
}

function splitNul(text: string): string[] {
  return text.split('\0').filter(Boolean)
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-3).join(' | ')
}
