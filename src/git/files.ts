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

/** What the rules find in `rev`: the `remove` paths present, the `protect` paths missing. */
export interface FilesState {
  present: string[]
  missing: string[]
}

/** The state of both lists in `rev`, with one git call. */
export async function filesStateAt(
  git: GitCommandManager,
  rules: FileRules,
  rev: string
): Promise<FilesState> {
  const existing = await git.existingPaths(rev, [...rules.remove, ...rules.protect])
  return {
    present: rules.remove.filter(path => existing.has(path)),
    missing: rules.protect.filter(path => !existing.has(path))
  }
}

export async function missingProtected(git: GitCommandManager, rules: FileRules, rev: string) {
  return (await filesStateAt(git, { remove: [], protect: rules.protect }, rev)).missing
}

/** Removes the present `remove` paths from HEAD in one commit, then checks `protect`. */
export async function applyFileRules(
  git: GitCommandManager,
  rules: FileRules,
  runLabel: string
): Promise<FilesOutcome> {
  const removed = (await filesStateAt(git, { remove: rules.remove, protect: [] }, 'HEAD')).present
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
