/**
 * Checks of a run's own setup, made before the first change (with the runbook, input and
 * preflight checks): something was selected to run, and the report can be written.
 */
import { mkdir, open } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { Plan } from './plan.js'
import { InputError } from './request.js'

/** A plan with no steps would report success having done nothing: that is invalid input. */
export function checkSelection(plan: Plan): void {
  if (plan.steps.length > 0) return
  const why = plan.excluded.map(e => `${e.phase}: ${e.reason}`).join('; ')
  throw new InputError([
    `phases: nothing was selected (${why}); choose phases that severity ${plan.request.severity} includes and the runbook configures`
  ])
}

/**
 * The report is the record of the run: a path it cannot be written to is refused now, not
 * discovered after production was changed. Opening for append creates it and changes nothing.
 */
export async function checkReportPath(path: string): Promise<void> {
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
