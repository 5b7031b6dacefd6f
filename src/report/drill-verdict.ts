/**
 * A drill's one-line answer: "this rollback would work today, in about N minutes", or exactly
 * which steps would break. The time is what the steps took, plus the build a real run waits for
 * (a drill does not rebuild: the flags step reports the last production build's time).
 */
import type { Journal, StepRecord } from '../engine.js'

const MINUTE_MS = 60_000

function buildWaitMs(step: StepRecord): number {
  const estimate = step.details?.buildEstimateMs
  return typeof estimate === 'number' && estimate > 0 ? estimate : 0
}

function broken(journal: Journal): string[] {
  const failed = journal.steps
    .filter(s => s.status === 'failed')
    .map(s => `${s.title}${s.error ? ` (${s.error.message})` : ''}`)
  if (failed.length === 0 && journal.error) return [journal.error.message]
  return failed
}

export function drillVerdict(journal: Journal): string | undefined {
  if (journal.command !== 'drill') return undefined
  const failing = broken(journal)
  if (failing.length > 0) return `This rollback would NOT work today: ${failing.join('; ')}.`
  const stepsMs = journal.steps.reduce((sum, s) => sum + (s.durationMs ?? 0), 0)
  const buildMs = journal.steps.reduce((sum, s) => sum + buildWaitMs(s), 0)
  const minutes = Math.max(1, Math.round((stepsMs + buildMs) / MINUTE_MS))
  const build = buildMs > 0 ? ', including the wait for a build as long as the last one' : ''
  return `This rollback would work today, in about ${minutes} minute${minutes === 1 ? '' : 's'}${build}.`
}
