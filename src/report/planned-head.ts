/** A plan's line about the branch head it was made against, and how a run keeps to it. */
import type { Journal } from '../engine.js'

export function plannedHead(journal: Journal, input = 'expect-head'): string | undefined {
  const head = journal.outputs['branch-head']
  if (journal.command !== 'plan' || !head) return undefined
  return `Planned against branch head ${head}: a run given it as ${input} refuses a branch that moved since.`
}
