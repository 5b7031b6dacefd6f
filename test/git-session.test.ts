/**
 * The committer identity a git session uses: the checkout's own, else the Actions bot's, read
 * from the configuration only when something is committed.
 */
import { afterEach, describe, expect, it } from '@jest/globals'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { execGit, type GitRunner } from '../src/git/git-command-manager.js'
import { createGit } from '../src/git/session.js'
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
