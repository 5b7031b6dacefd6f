/** The words every notification shares: headline, facts, markers, size limit. */
import type { RunInfo } from '../../dependencies.js'
import type { NotifyConfig } from '../../runbook/schema.js'

export interface NotifyAction {
  kind: 'initiated' | 'closing'
  config: NotifyConfig
  /** The severity changes nothing (investigate only): messages say so. */
  investigateOnly: boolean
}

/** GitHub refuses comment and issue bodies over 65 536 characters. */
const MAX_BODY = 60_000

export function fit(text: string): string {
  if (text.length <= MAX_BODY) return text
  return `${text.slice(0, MAX_BODY)}\n\n… (report truncated: the full report is in the job summary and the JSON report)`
}

/** "[drill] " or "[investigate only] " (severities that change nothing), else "". */
export function tag(run: RunInfo, action: NotifyAction): string {
  if (run.mode === 'drill') return '[drill] '
  return action.investigateOnly ? '[investigate only] ' : ''
}

export const statusMarker = (run: RunInfo) => `<!-- emergency-rollback:${run.request.runId} -->`

/**
 * Marks the incident issue of one rollback: this runbook, this workflow run (all its attempts;
 * the run's URL has no attempt number). A re-run of failed jobs finds it; a new run does not.
 */
export const incidentMarker = (run: RunInfo) =>
  `<!-- emergency-rollback-incident:${encodeURIComponent(run.runbookName)}:${encodeURIComponent(run.runUrl ?? run.request.runId)} -->`

/** Marks the one tracking issue of a runbook's drills (found again by it every week). */
export const drillMarker = (run: RunInfo) =>
  `<!-- emergency-rollback-drill:${encodeURIComponent(run.runbookName)} -->`

export function header(run: RunInfo, headline: string): string {
  const r = run.request
  const facts = [
    `**Runbook:** ${run.runbookName}`,
    `**Severity:** ${r.severity}`,
    `**Command:** ${r.command}`,
    r.trigger.actor ? `**Triggered by:** @${r.trigger.actor}` : undefined,
    run.runUrl ? `[Workflow run](${run.runUrl})` : undefined
  ].filter(Boolean)
  return `${statusMarker(run)}\n### ${headline}\n\n${facts.join(' · ')}\n`
}

export interface Closing {
  failed: boolean
  text: string
  headline: string
}

export function closingMessage(action: NotifyAction, run: RunInfo, failed: boolean): Closing {
  const text = failed ? action.config.messages.failed : action.config.messages.complete
  return { failed, text, headline: `${failed ? '❌' : '✅'} ${tag(run, action)}${text}` }
}
