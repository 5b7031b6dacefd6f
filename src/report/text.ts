/** The same report as plain text for the CLI. */
import type { Journal } from '../engine.js'
import { formatDuration } from '../util/duration.js'

export function renderText(journal: Journal): string {
  const lines: string[] = []
  const drill = journal.command === 'drill' ? ' (drill)' : ''
  lines.push(`Rollback ${journal.runbookName}: ${journal.status.toUpperCase()}${drill}`)
  if (journal.error) {
    lines.push(`  error: ${journal.error.message}`)
    if (journal.error.hint) lines.push(`  fix:   ${journal.error.hint}`)
  }
  lines.push('')
  const width = Math.max(4, ...journal.steps.map(s => s.title.length))
  lines.push(`${'STEP'.padEnd(width)}  ${'STATUS'.padEnd(9)}  ${'TIME'.padStart(9)}  CHANGES`)
  for (const step of journal.steps) {
    const time = step.durationMs === undefined ? '' : formatDuration(step.durationMs)
    const changes =
      journal.command === 'plan' || step.status === 'skipped' ? step.planned : step.changed
    const notes = step.error ? [`error: ${step.error.message}`, ...changes] : changes
    const [first = '-', ...rest] = notes
    lines.push(
      `${step.title.padEnd(width)}  ${step.status.padEnd(9)}  ${time.padStart(9)}  ${first}`
    )
    for (const line of rest) lines.push(`${''.padEnd(width + 24)}${line}`)
  }
  for (const [title, items] of [
    ['Where discarded data was kept:', journal.recovery],
    ['Warnings:', journal.warnings],
    ['Left out:', journal.excluded.map(e => `${e.phase}: ${e.reason}`)]
  ] as const) {
    if (items.length === 0) continue
    lines.push('', title, ...items.map(i => `  - ${i}`))
  }
  if (journal.durationMs !== undefined)
    lines.push('', `Took ${formatDuration(journal.durationMs)}.`)
  return lines.join('\n')
}
