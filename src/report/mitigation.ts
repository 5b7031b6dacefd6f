/**
 * Time to mitigation (the first user-visible fix: an instant rollback) apart from time to the
 * durable fix, from the flags step's details in the journal, counted from the run's start.
 */
import type { Journal } from '../engine.js'
import { formatDuration } from '../util/duration.js'

interface MitigationDetails {
  mitigation?: {
    servedId?: string
    mitigatedAt?: number
    skipped?: string
    failedChecks?: string[]
  }
  durableAt?: number
}

export function mitigationLine(journal: Journal): string | undefined {
  const start = Date.parse(journal.startedAt)
  for (const step of journal.steps) {
    const details = step.details as MitigationDetails | undefined
    const mitigation = details?.mitigation
    if (!mitigation) continue
    const durable =
      details.durableAt === undefined
        ? 'durable fix not reached'
        : `durable fix after ${formatDuration(details.durableAt - start)}`
    if (mitigation.mitigatedAt === undefined)
      return `No instant mitigation (${mitigation.skipped ?? 'not done'}); ${durable}.`
    // A rollback its own checks did not pass is not claimed as the moment users stopped hurting.
    if (mitigation.failedChecks?.length)
      return `Instant rollback to ${mitigation.servedId} after ${formatDuration(mitigation.mitigatedAt - start)} did not pass its checks (${mitigation.failedChecks.join('; ')}), so it is not counted as mitigation; ${durable}.`
    return `Mitigated after ${formatDuration(mitigation.mitigatedAt - start)} (instant rollback to ${mitigation.servedId}); ${durable}.`
  }
  return undefined
}
