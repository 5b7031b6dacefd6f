/**
 * Waiting for something to finish (a build, a workflow run) on a schedule, under a deadline.
 * Time is the larger of the wall clock and the sum of requested sleeps, so an injected instant
 * sleep still reaches the deadline.
 */
import { RollbackError } from '../util/errors.js'
import { elapsedMs, formatDuration } from '../util/duration.js'
import type { Clock } from './clock.js'
import { HttpTransportError } from './errors.js'

/** Poll every `everyMs` while less than `untilMs` has elapsed (the last step: for ever). */
export interface PollStep {
  untilMs?: number
  everyMs: number
}

/** Vercel CLI's: 1 s for 15 s, 5 s to 1 min, 15 s to 5 min, then 30 s. */
export const VERCEL_POLL_SCHEDULE: readonly PollStep[] = [
  { untilMs: 15_000, everyMs: 1_000 },
  { untilMs: 60_000, everyMs: 5_000 },
  { untilMs: 300_000, everyMs: 15_000 },
  { everyMs: 30_000 }
]

export function pollInterval(
  elapsed: number,
  schedule: readonly PollStep[] = VERCEL_POLL_SCHEDULE
): number {
  const step = schedule.find(s => s.untilMs === undefined || elapsed < s.untilMs)
  return (step ?? schedule[schedule.length - 1]!).everyMs
}

export type PollResult<T> = { done: true; value: T } | { done: false; state: string }

/** What one look is given: every request it makes passes `deadline` on (RequestOptions). */
export interface PollLook {
  /** Epoch ms (clock time) by which the look's requests must be over: the poll's own deadline. */
  deadline: number
}

export interface PollOptions<T> {
  /** One look; throws to stop (a failed build), answers done or the state for the log. */
  check(look: PollLook): Promise<PollResult<T>>
  timeoutMs: number
  clock: Pick<Clock, 'now' | 'sleep'>
  schedule?: readonly PollStep[]
  /** Called when the state differs from the previous look's. */
  onState?(state: string): void
  /** The error when time is up; `last` is the last state seen. */
  timeoutError?(last: string, timeoutMs: number): Error
}

/**
 * Looks until done or `timeoutMs` is up. Each look's requests are bound by the same deadline, so
 * a request that hangs ends the poll on time, with the timeout error (and why the last look
 * failed) rather than minutes later.
 */
export async function poll<T>(options: PollOptions<T>): Promise<T> {
  const { clock, timeoutMs } = options
  const started = clock.now()
  let slept = 0
  let last = ''
  const timedOut = (cause?: string): Error => {
    const error =
      options.timeoutError?.(last, timeoutMs) ??
      new RollbackError(`still ${last} after ${formatDuration(timeoutMs)}`)
    if (cause === undefined) return error
    const hint = error instanceof RollbackError ? error.hint : undefined
    return new RollbackError(
      `${error.message}; the last look got no answer in time: ${cause}`,
      hint
    )
  }
  for (;;) {
    const remaining = timeoutMs - elapsedMs(started, slept, clock.now())
    if (remaining <= 0) throw timedOut()
    let result: PollResult<T>
    try {
      result = await options.check({ deadline: clock.now() + remaining })
    } catch (err) {
      // Cut short by the deadline (or unanswered until it): the poll's timeout, said as such.
      const late = timeoutMs - elapsedMs(started, slept, clock.now()) <= 0
      if (err instanceof HttpTransportError && late) throw timedOut(err.message)
      throw err
    }
    if (result.done) return result.value
    if (result.state !== last) options.onState?.(result.state)
    last = result.state
    const elapsed = elapsedMs(started, slept, clock.now())
    if (elapsed >= timeoutMs) throw timedOut()
    const wait = Math.min(pollInterval(elapsed, options.schedule), timeoutMs - elapsed)
    await clock.sleep(wait)
    slept += wait
  }
}
