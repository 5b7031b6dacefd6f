/**
 * Which failed calls may be tried again, and when. Pure: the client asks `retryDecision` after
 * every failed try. A server's own wait (Retry-After, rate-limit reset) is honoured exactly, never
 * shortened, plus jitter; otherwise the wait grows exponentially, plus jitter. A wait that would
 * end after the call's deadline is not taken: the call fails at once, saying when to retry.
 */

/**
 * What a failed try may be repeated after:
 * - `never`: nothing (a POST that may have been processed);
 * - `rejected`: only answers saying the request was not processed (429, 503, a rate-limit 403);
 * - `server-error`: those and any other 5xx (repeating is harmless, e.g. a notification);
 * - `any-failure`: those and network errors and timeouts (idempotent calls).
 */
export type RetryWhen = 'never' | 'rejected' | 'server-error' | 'any-failure'

export interface RetrySettings {
  /** Tries in all, the first included. */
  maxTries: number
  /** First back-off; doubles with every try. */
  baseDelayMs: number
  /** Largest back-off (a server's own wait is never capped: the deadline bounds it). */
  maxBackoffMs: number
  /** Up to this much is added to every wait, so that clients do not retry in step. */
  jitterMs: number
}

export const DEFAULT_RETRY: RetrySettings = {
  maxTries: 5,
  baseDelayMs: 1_000,
  maxBackoffMs: 30_000,
  jitterMs: 1_000
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'])

/** Idempotent methods retry on any failure by default; anything else only when marked. */
export function defaultRetryWhen(method: string): RetryWhen {
  return IDEMPOTENT.has(method.toUpperCase()) ? 'any-failure' : 'never'
}

/** How a try failed. */
export type FailedTry = { kind: 'network' } | { kind: 'status'; status: number; headers: Headers }

/** 429, or a 403 that is a rate limit (GitHub: remaining 0, or a Retry-After). */
export function isRateLimited(status: number, headers: Headers): boolean {
  if (status === 429) return true
  return (
    status === 403 &&
    (headers.get('x-ratelimit-remaining') === '0' || headers.get('retry-after') !== null)
  )
}

function allowed(when: RetryWhen, failure: FailedTry): boolean {
  if (when === 'never') return false
  if (failure.kind === 'network') return when === 'any-failure'
  const { status, headers } = failure
  if (isRateLimited(status, headers) || status === 503) return true
  return status >= 500 && when !== 'rejected'
}

/**
 * How long the server asked us to wait, in ms from `nowMs` (undefined: it did not say).
 * `Retry-After` (seconds or an HTTP date) when present, as GitHub documents; otherwise
 * `X-RateLimit-Reset` (epoch seconds) when the remaining count is 0, or not given on a 429 (the
 * answer itself says the window is used up).
 */
export function serverWaitMs(headers: Headers, nowMs: number, status?: number): number | undefined {
  const retryAfter = headers.get('retry-after')?.trim()
  if (retryAfter) {
    if (/^\d+(\.\d+)?$/.test(retryAfter)) return Math.ceil(Number(retryAfter) * 1000)
    const at = Date.parse(retryAfter)
    if (Number.isFinite(at)) return Math.max(0, at - nowMs)
  }
  const reset = headers.get('x-ratelimit-reset')?.trim()
  const remaining = headers.get('x-ratelimit-remaining')
  const usedUp = remaining === '0' || (status === 429 && remaining === null)
  if (reset && /^\d+$/.test(reset) && usedUp) return Math.max(0, Number(reset) * 1000 - nowMs)
  return undefined
}

export function backoffMs(triesDone: number, settings: RetrySettings): number {
  return Math.min(settings.maxBackoffMs, settings.baseDelayMs * 2 ** Math.max(0, triesDone - 1))
}

export interface RetryInput {
  when: RetryWhen
  failure: FailedTry
  /** Tries made so far (>= 1). */
  triesDone: number
  settings: RetrySettings
  nowMs: number
  /** Epoch ms by which the whole call must be over. */
  deadlineMs: number
  random: () => number
}

export type RetryDecision =
  | { retry: true; waitMs: number; serverAsked: boolean }
  | { retry: false; reason: 'not-retryable' | 'tries' }
  /** The wait would end after the deadline: `retryAtMs` is when the server would accept it. */
  | { retry: false; reason: 'deadline'; retryAtMs: number; waitMs: number }

export function retryDecision(input: RetryInput): RetryDecision {
  const { failure, settings } = input
  if (!allowed(input.when, failure)) return { retry: false, reason: 'not-retryable' }
  if (input.triesDone >= settings.maxTries) return { retry: false, reason: 'tries' }
  const server =
    failure.kind === 'status'
      ? serverWaitMs(failure.headers, input.nowMs, failure.status)
      : undefined
  const jitter = Math.floor(Math.min(Math.max(input.random(), 0), 0.999999) * settings.jitterMs)
  const base = server ?? backoffMs(input.triesDone, settings)
  const waitMs = base + jitter
  if (input.nowMs + waitMs > input.deadlineMs)
    return { retry: false, reason: 'deadline', retryAtMs: input.nowMs + base, waitMs }
  return { retry: true, waitMs, serverAsked: server !== undefined }
}
