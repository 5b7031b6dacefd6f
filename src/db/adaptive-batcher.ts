/**
 * How big the next batch is and how long to pause before it, from what the last batch did to the
 * app. Pure control logic (no I/O, no clock): the callers measure, this decides, so tests can drive
 * it with injected signals. The rule is AIMD-like: any sign of pain (our batch ran long, another
 * backend waited for a lock, the database answered a trivial probe slowly) halves the batch and
 * doubles the pause at once; quiet batches move the size toward the one that takes the target
 * duration, at most 1.5x per step, and halve the pause back toward the floor.
 */

export interface BatcherLimits {
  minSize: number
  maxSize: number
  /** The batch duration we aim for: long enough to be efficient, short enough to hold row locks briefly. */
  targetMs: number
  minPauseMs: number
  maxPauseMs: number
}

/** What the caller measured after one batch committed. */
export interface BatchSignals {
  /** The batch statement's own duration. */
  batchMs: number
  /** Other backends of this database waiting for a lock (pg_stat_activity / pg_locks). */
  lockWaiters: number
  /** Round trip of a trivial probe query: the database's own latency. */
  probeMs: number
}

export interface BatcherState {
  size: number
  pauseMs: number
  /**
   * The typical probe: a moving average of the probes seen, what "normal" latency is on this
   * database now. Not the quietest probe ever seen: on a busy machine that one was luck, and
   * every ordinary probe would look like pain and back the batcher off for nothing.
   */
  probeBaseMs: number
  /** Why the last decision backed off ('' when it did not). */
  backedOff: string
}

/** A probe this much slower than the typical one (plus a small slack) counts as pain. */
export const PROBE_SLOW_FACTOR = 4
export const PROBE_SLACK_MS = 5
/** A batch over this multiple of the target counts as pain (it held its row locks too long). */
export const LONG_BATCH_FACTOR = 2
const MAX_GROWTH = 1.5
/** Weight of the newest probe in the typical probe. */
export const PROBE_AVERAGE_WEIGHT = 0.2

const clamp = (n: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, n))

export function initialState(limits: BatcherLimits, startSize = limits.maxSize): BatcherState {
  return {
    size: Math.round(clamp(startSize, limits.minSize, limits.maxSize)),
    pauseMs: limits.minPauseMs,
    probeBaseMs: Number.POSITIVE_INFINITY,
    backedOff: ''
  }
}

/** The reason the signals say "back off", or '' when the system is quiet. */
export function pain(signals: BatchSignals, limits: BatcherLimits, probeBaseMs: number): string {
  if (signals.lockWaiters > 0) return `${signals.lockWaiters} backend(s) waiting for a lock`
  if (signals.batchMs > LONG_BATCH_FACTOR * limits.targetMs) return 'batch ran long'
  const base = Math.min(probeBaseMs, signals.probeMs)
  if (signals.probeMs > PROBE_SLOW_FACTOR * base + PROBE_SLACK_MS) return 'database answers slowly'
  return ''
}

function backOff(state: BatcherState, signals: BatchSignals, limits: BatcherLimits, why: string) {
  return {
    size: Math.max(limits.minSize, Math.floor(state.size / 2)),
    pauseMs: clamp(
      Math.max(2 * state.pauseMs, 2 * signals.batchMs),
      limits.minPauseMs,
      limits.maxPauseMs
    ),
    backedOff: why
  }
}

function speedUp(state: BatcherState, signals: BatchSignals, limits: BatcherLimits) {
  const ratio = clamp(limits.targetMs / Math.max(signals.batchMs, 1), 0.5, MAX_GROWTH)
  return {
    size: Math.round(clamp(state.size * ratio, limits.minSize, limits.maxSize)),
    // Back to the runbook's pause while quiet: a pause proportional to the batch cost time the
    // app did not need (the signals above are what protect it).
    pauseMs: clamp(state.pauseMs / 2, limits.minPauseMs, limits.maxPauseMs),
    backedOff: ''
  }
}

export function nextState(
  state: BatcherState,
  signals: BatchSignals,
  limits: BatcherLimits
): BatcherState {
  const why = pain(signals, limits, state.probeBaseMs)
  const next = why ? backOff(state, signals, limits, why) : speedUp(state, signals, limits)
  return { ...next, probeBaseMs: typicalProbe(state.probeBaseMs, signals.probeMs) }
}

function typicalProbe(base: number, probeMs: number): number {
  if (!Number.isFinite(base)) return probeMs
  return base + PROBE_AVERAGE_WEIGHT * (probeMs - base)
}

/** Target batch duration: long enough to amortise a round trip, short enough for row locks. */
export const TARGET_BATCH_MS = 150
export const MAX_PAUSE_MS = 2000

/**
 * Limits for a runbook batch step: its batch-size is the ceiling (never more rows per batch than
 * the runbook allows), a twentieth of it the floor, its pause the shortest pause.
 */
export function limitsFor(batchSize: number, pauseMs: number): BatcherLimits {
  return {
    minSize: Math.max(1, Math.floor(batchSize / 20)),
    maxSize: Math.max(1, batchSize),
    targetMs: TARGET_BATCH_MS,
    minPauseMs: pauseMs,
    maxPauseMs: Math.max(pauseMs, MAX_PAUSE_MS)
  }
}
