/** The same report as plain text for the CLI. */
import type { Journal } from '../engine.js'
import { formatDuration } from '../util/duration.js'
import { drillVerdict } from './drill-verdict.js'
import { mitigationLine } from './mitigation.js'
import { plannedHead } from './planned-head.js'

export function renderText(journal: Journal): string {
  const lines: string[] = []
  const drill = journal.command === 'drill' ? ' (drill)' : ''
  lines.push(`Rollback ${journal.runbookName}: ${journal.status.toUpperCase()}${drill}`)
  const gate = journal.environment
    ? `, to run behind the GitHub Environment ${journal.environment} (required reviewers)`
    : ''
  const started = journal.durationMs === undefined ? '' : `; started ${journal.startedAt}`
  lines.push(`Severity ${journal.severity}${gate}${started}.`)
  if (journal.lock) lines.push(`Lock: ${journal.lock}.`)
  if (journal.error) {
    lines.push(`  error: ${journal.error.message}`)
    if (journal.error.hint) lines.push(`  fix:   ${journal.error.hint}`)
  }
  // After the error: what went wrong comes first.
  const head = plannedHead(journal, '--expect-head')
  if (head) lines.push(head)
  lines.push('')
  // One line per step (status, time, title, when it started: the timeline), what it changed
  // indented below: long titles and long change lists stay readable in any terminal width.
  const runStart = Date.parse(journal.startedAt)
  for (const step of journal.steps) {
    const time = step.durationMs === undefined ? '' : formatDuration(step.durationMs)
    const at = step.startedAt ? `at +${formatDuration(Date.parse(step.startedAt) - runStart)}` : ''
    const changes =
      journal.command === 'plan' || step.status === 'skipped' ? step.planned : step.changed
    const notes = step.error ? [`error: ${step.error.message}`, ...changes] : changes
    lines.push(
      `${step.status.padEnd(9)} ${time.padStart(8)}  ${step.title}${at ? `  (${at})` : ''}`
    )
    for (const note of notes) lines.push(`${' '.repeat(20)}- ${indentContinuation(note, 22)}`)
  }
  for (const [title, items] of [
    ['Where discarded data was kept:', journal.recovery],
    ['Warnings:', journal.warnings],
    ['Left out:', journal.excluded.map(e => `${e.phase}: ${e.reason}`)]
  ] as const) {
    if (items.length === 0) continue
    lines.push('', title, ...items.map(i => `  - ${indentContinuation(i, 4)}`))
  }
  const mitigation = mitigationLine(journal)
  if (mitigation) lines.push('', mitigation)
  if (journal.durationMs !== undefined)
    lines.push('', `Took ${formatDuration(journal.durationMs)}.`)
  // A drill ends with its answer.
  const verdict = drillVerdict(journal)
  if (verdict) lines.push('', verdict)
  return lines.join('\n')
}

function indentContinuation(text: string, width: number): string {
  return text.replace(/\n/g, `\n${' '.repeat(width)}`)
}
