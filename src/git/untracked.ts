/**
 * Untracked files in the checkout where the rollback writes: git refuses to overwrite them, so a
 * checkout or revert would stop halfway through the run with git's raw message. Preflight names
 * them instead, before anything changed.
 */
import { RollbackError } from '../util/errors.js'
import type { GitCommandManager } from './git-command-manager.js'

/** Whether writing `path` touches the untracked entry (a file, or a directory ending in `/`). */
export function collides(untracked: string, path: string): boolean {
  if (untracked.endsWith('/')) return path.startsWith(untracked) || `${path}/` === untracked
  return path === untracked || untracked.startsWith(`${path}/`)
}

/**
 * The untracked entries of the checkout that the paths from `written` would overwrite. `written`
 * is asked only when there are untracked entries at all: a clean checkout, the usual case, needs
 * no work (and no git commands) to find out what the rollback writes.
 */
export async function untrackedInTheWay(
  git: GitCommandManager,
  written: () => Promise<Iterable<string>>,
  read: Promise<string[]> = git.untrackedPaths()
): Promise<string[]> {
  const untracked = await read
  if (untracked.length === 0) return []
  const paths = [...(await written())]
  return untracked.filter(entry => paths.some(path => collides(entry, path)))
}

/** `untracked`: the entries if already read (a session's `untracked`), else read now. */
export async function requireNothingUntrackedAt(
  git: GitCommandManager,
  written: () => Promise<Iterable<string>>,
  untracked?: Promise<string[]>
): Promise<void> {
  const inTheWay = await untrackedInTheWay(git, written, untracked)
  if (inTheWay.length === 0) return
  throw new RollbackError(
    `the checkout ${git.workdir} has untracked ${inTheWay.length > 1 ? 'files' : 'file'} where the rollback writes: ${inTheWay.join(', ')}; nothing was changed`,
    'move or delete them (git status lists them), or run the rollback on a fresh checkout'
  )
}
