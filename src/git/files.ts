/**
 * The runbook's `files` section applied to the checkout: remove the listed paths (one commit) and
 * require every protected path to exist. Used by the git step before it pushes, and by the files
 * step when the git phase does not run.
 */
import { RollbackError } from '../util/errors.js'
import type { GitCommandManager } from './git-command-manager.js'
import type { FileRules } from './inputs.js'

export interface FilesOutcome {
  removed: string[]
  kept: string[]
  commit?: string
}

/** Paths of `rules.remove` present in `rev`. */
export async function presentPaths(git: GitCommandManager, paths: string[], rev: string) {
  const present: string[] = []
  for (const path of paths) if (await git.pathExists(rev, path)) present.push(path)
  return present
}

export async function missingProtected(git: GitCommandManager, rules: FileRules, rev: string) {
  const present = new Set(await presentPaths(git, rules.protect, rev))
  return rules.protect.filter(path => !present.has(path))
}

/** Removes the present `remove` paths from HEAD in one commit, then checks `protect`. */
export async function applyFileRules(
  git: GitCommandManager,
  rules: FileRules,
  runLabel: string
): Promise<FilesOutcome> {
  const removed = await presentPaths(git, rules.remove, 'HEAD')
  for (const path of removed) await git.remove(path)
  let commit: string | undefined
  if (await git.hasStagedChanges()) {
    const list = removed.map(path => `- ${path}`).join('\n')
    commit = await git.commit(
      `Remove files (emergency rollback)\n\nRemoved by emergency-rollback ${runLabel}:\n${list}\n`
    )
  }
  await requireProtected(git, rules, 'HEAD')
  return { removed, kept: rules.protect, commit }
}

export async function requireProtected(git: GitCommandManager, rules: FileRules, rev: string) {
  const missing = await missingProtected(git, rules, rev)
  if (missing.length === 0) return
  throw new RollbackError(
    `files: protected path(s) missing after the rollback: ${missing.join(', ')}; nothing was pushed`,
    'the rollback would delete files the runbook protects: narrow the revert range (or choose another reset-to), or update files.protect'
  )
}
