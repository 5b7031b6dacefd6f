/** Runbook durations ("500ms", "30s", "5m", "1h") to milliseconds. The schema checks the form. */
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const

export function parseDuration(text: string): number {
  const match = /^(\d+)(ms|s|m|h)$/.exec(text)
  if (!match) throw new Error(`not a duration: "${text}" (use e.g. 500ms, 30s, 5m, 1h)`)
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`
}

/**
 * Time spent waiting so far. With a real sleep the wall clock already contains the sleeps; with
 * the instant sleep tests inject, only the sum of requested sleeps moves. The larger of the two is
 * right in both cases (adding them would count every real sleep twice).
 */
export function elapsedMs(startedAt: number, sleptMs: number, now: number): number {
  return Math.max(now - startedAt, sleptMs)
}
