/** The committer identity a git session uses: the checkout's own, else the Actions bot's. */
import { afterEach, describe, expect, it } from '@jest/globals'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createGit } from '../src/git/session.js'
import { testContext } from './support/context.js'
import { clone, git, makeRepo, tempDir, type TestRepo } from './support/git.js'

let repo: TestRepo
afterEach(() => repo?.cleanup())

/** Commits with the session's git and returns the author as `name <email>`. */
async function authorOfNextCommit(checkout: string, home: string): Promise<string> {
  const ctx = testContext({
    workdir: checkout,
    env: { PATH: process.env.PATH, HOME: home, GIT_CONFIG_NOSYSTEM: '1' }
  })
  const session = await createGit(ctx)
  await session.exec(['commit', '--quiet', '--allow-empty', '-m', 'probe'])
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
})
