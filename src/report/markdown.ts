/**
 * The job summary: a headline, the step table (status, duration, what changed), a mermaid
 * timeline (a plan: the order of the steps), where discarded data was kept, and what was left out. Used for GITHUB_STEP_SUMMARY,
 * the status comment and the incident issue.
 */
import type { Journal, StepRecord } from '../engine.js'
import { formatDuration } from '../util/duration.js'
import { drillVerdict } from './drill-verdict.js'
import { mitigationLine } from './mitigation.js'
import { plannedHead } from './planned-head.js'

const STATUS_ICON: Record<StepRecord['status'], string> = {
  planned: '📝',
  succeeded: '✅',
  failed: '❌',
  skipped: '⏭️',
  warned: '⚠️'
}

const RUN_HEADLINE: Record<Journal['status'], string> = {
  planned: '📝 Rollback plan',
  succeeded: '✅ Rollback succeeded',
  failed: '❌ Rollback failed'
}

export function renderMarkdown(journal: Journal): string {
  const lines: string[] = []
  const mode = journal.command === 'drill' ? ' (drill: production untouched)' : ''
  lines.push(`## ${RUN_HEADLINE[journal.status]}: ${escapeCell(journal.runbookName)}${mode}`, '')
  const gate = journal.environment
    ? ` It must run behind the GitHub Environment \`${journal.environment}\` (required reviewers).`
    : ''
  lines.push(`Severity **${journal.severity}**.${gate}`, '')
  const verdict = drillVerdict(journal)
  if (verdict) lines.push(`**${verdict}**`, '')
  if (journal.durationMs !== undefined) {
    lines.push(`Started ${journal.startedAt}, took ${formatDuration(journal.durationMs)}.`, '')
  }
  if (journal.lock) lines.push(`Lock: ${journal.lock}.`, '')
  const mitigation = mitigationLine(journal)
  if (mitigation) lines.push(`**${mitigation}**`, '')
  if (journal.error) {
    lines.push(`> **Error:** ${journal.error.message}`)
    if (journal.error.hint) lines.push(`> **Fix:** ${journal.error.hint}`)
    lines.push('')
  }
  const head = plannedHead(journal)
  if (head) lines.push(head.replace(/[0-9a-f]{40}/, '`$&`'), '')
  lines.push(...stepTable(journal), '')
  if (journal.command === 'plan') {
    if (journal.steps.length > 0) lines.push(...plannedOrder(journal), '')
  } else if (journal.steps.some(s => s.durationMs !== undefined)) {
    lines.push(...timeline(journal), '')
  }
  if (journal.recovery.length > 0) {
    lines.push('### Where discarded data was kept', '', ...journal.recovery.map(r => `- ${r}`), '')
  }
  if (journal.warnings.length > 0) {
    lines.push('### Warnings', '', ...journal.warnings.map(w => `- ${w}`), '')
  }
  if (journal.excluded.length > 0) {
    lines.push('<details><summary>Phases left out</summary>', '')
    lines.push(...journal.excluded.map(e => `- **${e.phase}**: ${e.reason}`), '', '</details>', '')
  }
  return lines.join('\n')
}

function stepTable(journal: Journal): string[] {
  const showPlanned = journal.command === 'plan'
  const rows = [
    `| Step | Status | Duration | ${showPlanned ? 'Would change' : 'Changed'} |`,
    '| --- | --- | --- | --- |'
  ]
  for (const step of journal.steps) {
    const changes = showPlanned || step.status === 'skipped' ? step.planned : step.changed
    const note = step.error
      ? [`**${step.error.message}**${step.error.hint ? ` (${step.error.hint})` : ''}`]
      : []
    rows.push(
      `| ${escapeCell(step.title)} | ${STATUS_ICON[step.status]} ${step.status} | ${
        step.durationMs === undefined ? '' : formatDuration(step.durationMs)
      } | ${[...note, ...changes].map(escapeCell).join('<br>') || '—'} |`
    )
  }
  if (journal.steps.length === 0) rows.push('| (no steps) | | | |')
  return rows
}

/**
 * A mermaid gantt chart: one bar per step that ran, on a real time axis, one section per phase
 * (a phase's steps may be apart in time, e.g. integrity before and after).
 */
function timeline(journal: Journal): string[] {
  const lines = [
    '```mermaid',
    'gantt',
    '  dateFormat x',
    '  axisFormat %M:%S',
    '  title Rollback timeline'
  ]
  const byPhase = new Map<string, StepRecord[]>()
  for (const step of journal.steps) {
    if (!step.startedAt || step.durationMs === undefined) continue
    byPhase.set(step.phase, [...(byPhase.get(step.phase) ?? []), step])
  }
  for (const [phase, steps] of byPhase) {
    lines.push(`  section ${mermaidLabel(phase)}`)
    for (const step of steps) {
      const start = Date.parse(step.startedAt!)
      const tag = step.status === 'failed' ? 'crit, ' : step.status === 'warned' ? 'active, ' : ''
      const end = start + Math.max(step.durationMs!, 1)
      lines.push(`  ${mermaidLabel(step.title)} :${tag}${start}, ${end}`)
    }
  }
  lines.push('```')
  return lines
}

const STAGE_NAME: Record<StepRecord['stage'], string> = {
  before: 'Before the rollback',
  main: 'The rollback',
  finally: 'Afterwards, whatever happened'
}

/** A plan has no times yet: a mermaid timeline of the order the steps will run in, by stage. */
function plannedOrder(journal: Journal): string[] {
  const lines = ['```mermaid', 'timeline', '  title Order of the steps']
  let stage = ''
  for (const step of journal.steps) {
    if (step.stage !== stage) {
      stage = step.stage
      lines.push(`  section ${STAGE_NAME[step.stage]}`)
    }
    lines.push(`    ${step.phase} : ${mermaidLabel(step.title)}`)
  }
  lines.push('```')
  return lines
}

/**
 * Characters mermaid reads as syntax in gantt and timeline lines (`:` ends a task name, `#` and
 * `;` end directives, `%` starts a comment, a backtick could close the code block, quotes and
 * angle brackets are read in some states), shown as look-alikes that are plain text.
 */
const MERMAID_LOOKALIKES: Record<string, string> = {
  ':': '\u2236',
  '#': '\uFF03',
  ';': '\uFF1B',
  '%': '\uFF05',
  '`': '\u02CB',
  '"': '\uFF02',
  '<': '\u2039',
  '>': '\u203A',
  '{': '\uFF5B',
  '}': '\uFF5D'
}

/**
 * Words that start a statement when a line begins with them (`click`, `title`, `dateFormat`, a
 * date...): a label that begins so gets an invisible zero-width space in front, which mermaid
 * does not skip as white space, so the line stays a task or an event.
 */
const MERMAID_STATEMENT =
  /^(acc|click|call|href|gantt|timeline|dateformat|inclusiveenddates|topaxis|axisformat|tickinterval|includes|excludes|todaymarker|weekday|weekend|title|section|\d{4}-\d\d-\d\d)/i

/** Longest label drawn; the table has the full text. */
const MAX_LABEL = 80

/** Any runbook text as one safe label: one line, no syntax, bounded, never empty. */
export function mermaidLabel(text: string): string {
  let label = text
    .replace(/[:#;%`"<>{}]/g, c => MERMAID_LOOKALIKES[c]!)
    // Line breaks, tabs and every other control or separator character: one space.
    // eslint-disable-next-line no-control-regex -- replacing control characters is the point
    .replace(/[\s\u0000-\u001f\u007f-\u009f\u200b\u2028\u2029\ufeff]+/g, ' ')
    .trim()
  if (label.length > MAX_LABEL) label = `${label.slice(0, MAX_LABEL - 1)}…`
  if (label === '') return '(unnamed)'
  return MERMAID_STATEMENT.test(label) ? `\u200B${label}` : label
}

function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ')
}
