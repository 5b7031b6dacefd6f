/**
 * Push/fetch authentication the way actions/checkout does it: an
 * `http.<origin>/.extraheader = AUTHORIZATION: basic base64(x-access-token:TOKEN)` entry in a config
 * file, never on a command line or in a log. The entry lives in a private file (mode 0600) outside
 * the checkout, pulled in with `include.path`, and both are removed afterwards.
 *
 * The included section starts with an empty `extraheader =`, which resets any header an earlier
 * `actions/checkout` persisted for the same origin (two Authorization headers make GitHub fail).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { GitCommandManager } from './git-command-manager.js'

export interface GitAuth {
  /** Removes the config entry and the file holding the token. */
  remove(): Promise<void>
}

/** The `scheme://host[:port]/` prefix an http(s) remote URL is matched with, else undefined. */
export function httpOrigin(remoteUrl: string): string | undefined {
  if (!/^https?:\/\//i.test(remoteUrl)) return undefined
  try {
    const url = new URL(remoteUrl)
    return `${url.protocol}//${url.host}/`
  } catch {
    return undefined
  }
}

export function basicCredential(token: string): string {
  return Buffer.from(`x-access-token:${token}`, 'utf8').toString('base64')
}

/**
 * Configures the token for `remoteUrl` when it is an http(s) URL; returns a no-op otherwise.
 * `tempDir` is where the private config file goes (RUNNER_TEMP under Actions).
 */
export async function configureAuth(
  git: GitCommandManager,
  remoteUrl: string,
  token: string | undefined,
  tempDir: string = tmpdir()
): Promise<GitAuth> {
  const origin = httpOrigin(remoteUrl)
  if (!token || !origin) return { remove: async () => {} }
  const dir = await mkdtemp(join(tempDir, 'rollback-auth-'))
  const file = join(dir, 'auth.gitconfig')
  const section = `[http "${origin}"]\n\textraheader =\n\textraheader = AUTHORIZATION: basic ${basicCredential(token)}\n`
  await writeFile(file, section, { mode: 0o600 })
  await git.addLocalConfig('include.path', file)
  return {
    remove: async () => {
      await git.unsetLocalConfig('include.path', file)
      await rm(dir, { recursive: true, force: true })
    }
  }
}
