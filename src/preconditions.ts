/**
 * Checks of a run's own setup, made before the first change (with the runbook, input and
 * preflight checks): something was selected to run, the report can be written, the working
 * directory is one, and a reset's confirm can be its target.
 */
import { mkdir, open, realpath, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { dbSettings, parseDatabaseUrl, type DatabaseSource } from './db/connection.js'
import { confirmMayMatch, confirmMismatch, type GitAction } from './git/inputs.js'
import type { Plan } from './plan.js'
import { InputError } from './request.js'
import { RollbackError } from './util/errors.js'

/**
 * A plan with no steps, or only a git step given no commits, would report success having done
 * nothing: that is invalid input.
 */
export function checkSelection(plan: Plan): void {
  const idle = plan.steps.flatMap(step => {
    const skip = (step.action as Partial<GitAction> | undefined)?.skip
    return step.phase === 'git' && skip ? [{ phase: step.phase, reason: skip }] : []
  })
  if (plan.steps.length > idle.length) return
  const why = [...idle, ...plan.excluded].map(e => `${e.phase}: ${e.reason}`).join('; ')
  throw new InputError([
    `phases: nothing was selected (${why}); choose phases that severity ${plan.request.severity} includes and the runbook configures`
  ])
}

/**
 * The report is the record of the run: a path it cannot be written to is refused now, not
 * discovered after production was changed. Opening for append creates it and changes nothing.
 */
export async function checkReportPath(path: string, runbookPath: string): Promise<void> {
  // The report would overwrite the runbook it records.
  const [report, runbook] = await Promise.all(
    [path, runbookPath].map(p => realpath(p).catch(() => p))
  )
  if (report === runbook) {
    throw new InputError([
      `report: ${path} is the runbook; choose another path for the report (--report for the CLI)`
    ])
  }
  try {
    await mkdir(dirname(path), { recursive: true })
    const handle = await open(path, 'a')
    await handle.close()
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error'
    throw new InputError([
      `report: cannot write the report to ${path} (${code}); choose a writable path (--report for the CLI, RUNNER_TEMP for the action)`
    ])
  }
}

/** Git and the smoke command run in the working directory: one that is no directory is a typo. */
export async function checkWorkdir(workdir: string): Promise<void> {
  const found = await stat(workdir).catch(() => undefined)
  if (found?.isDirectory()) return
  throw new InputError([
    `workdir: ${workdir} ${found ? 'is not a directory' : 'does not exist'}; point --workdir at the git checkout (default: the current directory)`
  ])
}

/**
 * A reset with no target (neither reset-to nor, for a drill, git.drill), or a confirm that cannot
 * be its target, is refused with the inputs: neither needs the remote to find (the git preflight
 * still compares confirm with the full SHA once that is known).
 */
export function checkReset(plan: Plan): void {
  const step = plan.steps.find(s => s.phase === 'git')
  const action = step?.action as GitAction | undefined
  if (action?.strategy !== 'reset' || action.skip || action.drillRange) return
  if (!action.resetTo) {
    throw new InputError([
      'reset-to: required for git-strategy reset; set reset-to (input) or git.reset-to (runbook) to the known-good commit SHA, or for a drill git.drill'
    ])
  }
  if (!action.confirm || confirmMayMatch(action.confirm, action.resetTo)) return
  const refusal = confirmMismatch(action.confirm, action.resetTo)
  throw new InputError([`${refusal.message}; ${refusal.hint}`])
}

/** The phases that open a database session. */
const DATABASE_PHASES = new Set(['database', 'schema', 'integrity'])

/**
 * A database URL that is no postgres:// URL is a typo in a secret: refused with the inputs, before
 * any phase, as invalid input. A missing one is left to the preflight (a plan may not have it).
 */
export function checkDatabaseUrl(plan: Plan, source: DatabaseSource): void {
  if (!plan.steps.some(step => DATABASE_PHASES.has(step.phase))) return
  let settings: { url: string; source: string }
  try {
    settings = dbSettings(source)
  } catch {
    return
  }
  try {
    parseDatabaseUrl(settings.url, settings.source)
  } catch (err) {
    if (!(err instanceof RollbackError)) throw err
    throw new InputError([`database-url: ${err.message}; ${err.hint}`])
  }
}
