/**
 * A git session: the committer identity it uses (the checkout's own, else the Actions bot's, read
 * from the configuration only when something is committed), how it reaches the remote branch, and
 * how few git processes its reads start.
 */
import { afterEach, describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { execGit, type GitRunner } from '../src/git/git-command-manager.js'
import { createGit, withGitSession } from '../src/git/session.js'
import { requireNothingUntrackedAt } from '../src/git/untracked.js'
import { testContext } from './support/context.js'
import { clone, git, makeRepo, tempDir, type TestRepo } from './support/git.js'

let repo: TestRepo
afterEach(() => repo?.cleanup())

function sessionContext(checkout: string, home: string) {
  return testContext({
    workdir: checkout,
    env: { PATH: process.env.PATH, HOME: home, GIT_CONFIG_NOSYSTEM: '1' }
  })
}

/** A runner that records each git command line (subcommand and arguments). */
function recording(): { runner: GitRunner; commands: string[] } {
  const commands: string[] = []
  const runner: GitRunner = (args, options) => {
    commands.push(args.join(' '))
    return execGit(args, options)
  }
  return { runner, commands }
}

/** Commits a change with a new session's git and returns the author as `name <email>`. */
async function authorOfNextCommit(checkout: string, home: string): Promise<string> {
  const session = await createGit(sessionContext(checkout, home).checkout)
  writeFileSync(join(checkout, 'probe.txt'), `${Date.now()}-${Math.random()}\n`)
  await session.exec(['add', 'probe.txt'])
  await session.commit('probe')
  return git(checkout, 'log', '-1', '--format=%an <%ae>')
}

describe('git session identity', () => {
  it('uses the Actions bot when the checkout and the user have no identity', async () => {
    repo = makeRepo()
    const author = await authorOfNextCommit(clone(repo), tempDir('home-'))
    expect(author).toBe(
      'github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>'
    )
  })

  it('keeps the configured identity, the checkout’s over the user’s, each key on its own', async () => {
    repo = makeRepo()
    const home = tempDir('home-')
    writeFileSync(join(home, '.gitconfig'), '[user]\n\tname = Global Person\n')
    const checkout = clone(repo)
    expect(await authorOfNextCommit(checkout, home)).toBe(
      'Global Person <41898282+github-actions[bot]@users.noreply.github.com>'
    )
    git(checkout, 'config', 'user.name', 'Local Person')
    git(checkout, 'config', 'user.email', 'local@example.com')
    expect(await authorOfNextCommit(checkout, home)).toBe('Local Person <local@example.com>')
  })

  it('reads the identity once, before the first commit, for the session and its worktrees', async () => {
    repo = makeRepo()
    const checkout = clone(repo)
    const commands: string[] = []
    const runner: GitRunner = (args, options) => {
      commands.push(args.join(' '))
      return execGit(args, options)
    }
    const ctx = { ...sessionContext(checkout, tempDir('home-')).checkout, runner }
    const session = await createGit(ctx)
    const identityReads = () => commands.filter(c => c.startsWith('config --null --get-regexp'))
    expect(identityReads()).toEqual([])

    writeFileSync(join(checkout, 'a.txt'), 'a\n')
    await session.exec(['add', 'a.txt'])
    await session.commit('first')
    expect(identityReads()).toHaveLength(1)

    const worktree = join(tempDir('worktree-'), 'wt')
    await session.exec(['worktree', 'add', '--detach', worktree, 'HEAD'])
    const inWorktree = session.at(worktree)
    writeFileSync(join(worktree, 'b.txt'), 'b\n')
    await inWorktree.exec(['add', 'b.txt'])
    await inWorktree.commit('second')
    expect(identityReads()).toHaveLength(1)
    expect(git(worktree, 'log', '-1', '--format=%an')).toBe('github-actions[bot]')
  })
})

describe('a session on the remote branch', () => {
  const target = { remote: 'origin', branch: 'main' }

  it('fetches the branch tip without asking the remote first (one round trip)', async () => {
    repo = makeRepo()
    const checkout = clone(repo)
    const { runner, commands } = recording()
    const ctx = { ...sessionContext(checkout, tempDir('home-')).checkout, runner }
    const tip = await withGitSession(ctx, target, async s => s.tip)
    expect(tip).toBe(git(repo.bare, 'rev-parse', 'main'))
    expect(commands.filter(c => /^(ls-remote|fetch) /.test(c))).toEqual([
      'fetch --no-tags --no-recurse-submodules --no-auto-maintenance --quiet origin +refs/heads/main:refs/emergency-rollback/main'
    ])
  })

  it('opens with one git start when the remote is configured, two when it is a URL', async () => {
    repo = makeRepo()
    const checkout = clone(repo)
    const { runner, commands } = recording()
    const ctx = { ...sessionContext(checkout, tempDir('home-')).checkout, runner }
    const beforeFetch = () =>
      commands.slice(
        0,
        commands.findIndex(c => c.startsWith('fetch '))
      )
    await withGitSession(ctx, target, async () => 0)
    expect(beforeFetch()).toEqual(['remote get-url origin'])
    commands.length = 0
    const tip = await withGitSession(ctx, { ...target, remote: repo.bare }, async s => s.tip)
    expect(tip).toBe(git(repo.bare, 'rev-parse', 'main'))
    expect(beforeFetch()).toEqual([
      `remote get-url ${repo.bare}`,
      'rev-parse --is-inside-work-tree'
    ])
  })

  it('refuses a directory that is not a checkout, whether or not a remote is asked for', async () => {
    const ctx = sessionContext(tempDir('not-a-checkout-'), tempDir('home-')).checkout
    for (const open of [() => withGitSession(ctx, target, async () => 0), () => createGit(ctx)]) {
      const err = (await open().catch((e: Error) => e)) as Error
      expect(err.message).toMatch(/ is not a git checkout$/)
    }
  })

  it('refuses a repository without a work tree as soon as a command needs one', async () => {
    repo = makeRepo()
    // A bare clone and a clone's .git directory: both have an origin, neither has files.
    const bare = join(tempDir('bare-'), 'app.git')
    git(tempDir('cwd-'), 'clone', '--quiet', '--bare', repo.bare, bare)
    for (const workdir of [bare, join(clone(repo), '.git')]) {
      const ctx = sessionContext(workdir, tempDir('home-')).checkout
      const read = withGitSession(ctx, target, async s => s.untracked, { readUntracked: true })
      const err = (await read.catch((e: Error) => e)) as Error
      expect([workdir, err.message]).toEqual([workdir, `${workdir} is not a git checkout`])
      const opened = (await createGit(ctx).catch((e: Error) => e)) as Error
      expect(opened.message).toBe(`${workdir} is not a git checkout`)
    }
  })

  it('reads the untracked entries while the fetch runs, only when asked', async () => {
    repo = makeRepo()
    const checkout = clone(repo)
    writeFileSync(join(checkout, 'notes.md'), 'mine\n')
    const { runner, commands } = recording()
    const ctx = { ...sessionContext(checkout, tempDir('home-')).checkout, runner }
    const read = await withGitSession(ctx, target, async s => s.untracked, { readUntracked: true })
    expect(await read).toEqual(['notes.md'])
    const untrackedRead = commands.findIndex(c => c.startsWith('ls-files '))
    expect(untrackedRead).toBeGreaterThanOrEqual(0)
    expect(untrackedRead).toBeLessThan(commands.findIndex(c => c.startsWith('fetch ')))
    commands.length = 0
    expect(await withGitSession(ctx, target, async s => s.untracked)).toBeUndefined()
    expect(commands.filter(c => c.startsWith('ls-files '))).toEqual([])
  })

  it('works out what a rollback writes only when something untracked could be in the way', async () => {
    repo = makeRepo()
    const checkout = clone(repo)
    const ctx = sessionContext(checkout, tempDir('home-')).checkout
    const session = await createGit(ctx)
    let asked = 0
    const written = async () => {
      asked++
      return ['notes.md', 'lib/a.ts']
    }
    await requireNothingUntrackedAt(session, written)
    expect(asked).toBe(0)
    writeFileSync(join(checkout, 'elsewhere.md'), 'x\n')
    await requireNothingUntrackedAt(session, written)
    expect(asked).toBe(1)
    writeFileSync(join(checkout, 'notes.md'), 'mine\n')
    const err = (await requireNothingUntrackedAt(session, written).catch(e => e)) as Error
    expect(err.message).toMatch(/has untracked file where the rollback writes: notes\.md;/)
  })

  it('says which of remote or branch is wrong when the fetch fails', async () => {
    repo = makeRepo()
    const checkout = clone(repo)
    const ctx = sessionContext(checkout, tempDir('home-')).checkout
    const missing = await withGitSession(ctx, { ...target, branch: 'nope' }, async () => 0).catch(
      (e: Error) => e
    )
    expect((missing as Error).message).toBe('branch: "nope" does not exist on remote "origin"')
    git(checkout, 'remote', 'set-url', 'origin', join(tempDir('gone-'), 'remote.git'))
    const gone = await withGitSession(ctx, target, async () => 0).catch((e: Error) => e)
    expect((gone as Error).message).toMatch(/^cannot reach git remote "origin": /)
  })
})

describe('existingPaths', () => {
  const TREE = {
    'lib/a.ts': 'a\n',
    'lib/deep/b.ts': 'b\n',
    'app/api/[id]/route.ts': 'r\n',
    'with space.md': 's\n',
    'line\nbreak.txt': 'n\n'
  }
  const CANDIDATES = [
    ...Object.keys(TREE),
    'lib',
    'lib/',
    'lib/deep',
    'app/api/[id]/',
    'missing.ts',
    'lib/missing/',
    'lib/a.ts/x',
    'with',
    'line\nbreak.txt.missing',
    'ends with cr\r'
  ]

  it('answers as one `cat-file -e` per path would, with one git start for all', async () => {
    repo = makeRepo(TREE)
    const checkout = clone(repo)
    const { runner, commands } = recording()
    const session = await createGit({
      ...sessionContext(checkout, tempDir('home-')).checkout,
      runner
    })
    await fc.assert(
      fc.asyncProperty(fc.subarray(CANDIDATES), async paths => {
        const expected = new Set<string>()
        for (const path of paths) if (await session.pathExists('HEAD', path)) expected.add(path)
        commands.length = 0
        expect(await session.existingPaths('HEAD', paths)).toEqual(expected)
        // Paths with a line break are the exception: each is asked on its own.
        const alone = paths.filter(p => /[\r\n]/.test(p)).length
        const batches = paths.length > alone ? 1 : 0
        expect(commands).toHaveLength(batches + alone)
      }),
      { numRuns: 10 }
    )
  })
})
