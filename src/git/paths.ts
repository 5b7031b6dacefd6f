/**
 * Repository paths as the runbook writes them (the seed writes `/lib/...` and `app/admin/x/` for a
 * directory): normalised to git's form, and the protect/remove overlap rule.
 */

/** `/lib/a.ts` -> `lib/a.ts`, `app/admin/x/` -> `app/admin/x`. */
export function normalizePath(path: string): string {
  return path.trim().replace(/^\/+/, '').replace(/\/+$/, '')
}

/** Why a runbook path is unusable, or undefined when it is fine. */
export function pathProblem(path: string): string | undefined {
  const norm = normalizePath(path)
  if (norm === '' || norm === '.') return `"${path}" names the repository root`
  if (norm.split('/').some(part => part === '..' || part === '.' || part === '.git')) {
    return `"${path}" must not contain ".", ".." or ".git" segments`
  }
  return undefined
}

/**
 * True when removing `removed` (a file or a directory) would remove `kept`. Removing one file
 * inside a protected directory is fine: the directory still exists.
 */
export function overlaps(kept: string, removed: string): boolean {
  const k = normalizePath(kept)
  const r = normalizePath(removed)
  return k === r || k.startsWith(`${r}/`)
}

/** Human-readable protect/remove conflicts (empty when there are none). */
export function overlapProblems(protect: string[], remove: string[]): string[] {
  const problems: string[] = []
  for (const kept of protect) {
    for (const removed of remove) {
      if (overlaps(kept, removed)) {
        problems.push(`"${kept}" is protected but "${removed}" is listed for removal`)
      }
    }
  }
  return problems
}
