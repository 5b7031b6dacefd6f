/**
 * The job summary: a headline, the step table (status, duration, what changed), a mermaid
 * timeline (a plan: the order of the steps), where discarded data was kept, and what was left out. Used for GITHUB_STEP_SUMMARY,
 * the status comment and the incident issue.
 */
import type { Journal, StepRecord } from '../engine.js'
import { formatDuration } from '../util/duration.js'

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
  if (journal.durationMs !== undefined) {
    lines.push(`Started ${journal.startedAt}, took ${formatDuration(journal.durationMs)}.`, '')
  }
  if (journal.lock) lines.push(`Lock: ${journal.lock}.`, '')
  if (journal.error) {
    lines.push(`> **Error:** ${journal.error.message}`)
    if (journal.error.hint) lines.push(`> **Fix:** ${journal.error.hint}`)
    lines.push('')
  }
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

/** A mermaid gantt chart: one bar per step that ran, on a real time axis. */
function timeline(journal: Journal): string[] {
  const lines = [
    '```mermaid',
    'gantt',
    '  dateFormat x',
    '  axisFormat %M:%S',
    '  title Rollback timeline'
  ]
  let section = ''
  for (const step of journal.steps) {
    if (!step.startedAt || step.durationMs === undefined) continue
    if (step.phase !== section) {
      section = step.phase
      lines.push(`  section ${section}`)
    }
    const start = Date.parse(step.startedAt)
    const tag = step.status === 'failed' ? 'crit, ' : step.status === 'warned' ? 'active, ' : ''
    lines.push(
      `  ${mermaidLabel(step.title)} :${tag}${start}, ${start + Math.max(step.durationMs, 1)}`
    )
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
 * Mermaid reads `:`, `#` and `;` as syntax in gantt and timeline lines; a line break would start
 * a new line of the chart and three backticks would end the code block.
 */
function mermaidLabel(title: string): string {
  return title.replace(/[:#;`]|\r?\n/g, ' ')
}

function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ')
}
