/**
 * The runbook's own text, checked before anything is planned or contacted: what each phase can
 * refuse without a database, a remote or a token (its SQL, parsed by the PostgreSQL parser). A
 * problem found here makes the runbook invalid (file:line, exit 2), like a schema error, so the
 * same bad runbook is refused the same way by plan, run and drill, whatever the phases selected.
 */
import type { PhaseModule } from './model.js'
import { PHASE_MODULES } from './phases/index.js'
import type { LocatedRunbook } from './runbook/load.js'

export async function checkRunbookText(
  located: LocatedRunbook,
  phases: PhaseModule[] = Object.values(PHASE_MODULES)
): Promise<void> {
  const found = await Promise.all(phases.map(p => p.validate?.(located.runbook) ?? []))
  const problems = found.flat()
  if (problems.length > 0) throw located.invalid(problems)
}
