/**
 * Two one-call helpers for callers that are not an API client: verify's checks (a GET with a
 * timeout, no retry, bounded body) and the webhook (a POST of JSON, retried only when the server
 * answered 429 or 5xx, honouring Retry-After, under a deadline).
 */
import { readBounded } from './body.js'
import { systemClock, type Clock, type FetchLike } from './clock.js'
import { HttpClient, networkMessage } from './client.js'
import { HttpTransportError } from './errors.js'

export interface CheckOptions {
  method?: string
  headers?: Record<string, string>
  /** Sent as is (verify's checks may send a body). */
  body?: string
  timeoutMs: number
  /** Body bytes kept; the rest is not read (default 1 MiB). */
  maxBytes?: number
  fetch?: FetchLike
}

export interface CheckAnswer {
  status: number
  headers: Headers
  text: string
  /** The body was longer than maxBytes: `text` holds its start. */
  truncated: boolean
}

/**
 * One request, no retry (the caller's own schedule decides when to look again). Any status is an
 * answer; only an unreachable host or a timeout throws (HttpTransportError, one line).
 */
export async function checkUrl(url: string, options: CheckOptions): Promise<CheckAnswer> {
  const fetch = options.fetch ?? (globalThis.fetch as FetchLike)
  const method = options.method ?? 'GET'
  try {
    const response = await fetch(url, {
      method,
      headers: options.headers,
      body: options.body,
      signal: AbortSignal.timeout(options.timeoutMs)
    })
    const body = await readBounded(response, options.maxBytes ?? 1024 * 1024)
    return { status: response.status, headers: response.headers, ...body }
  } catch (err) {
    const what = `${method} ${new URL(url).host}`
    const reason = networkMessage(err, options.timeoutMs)
    throw new HttpTransportError(`${what}: ${reason}`, undefined, what, reason)
  }
}

export interface PostJsonOptions {
  headers?: Record<string, string>
  /** Per try (default 10 s). */
  timeoutMs?: number
  /** The whole call, waits included (default 60 s). */
  budgetMs?: number
  maxTries?: number
  maxBytes?: number
  fetch?: FetchLike
  clock?: Clock
  /** Names the receiver in messages (default `webhook`). */
  service?: string
}

/**
 * POSTs `payload` as JSON; retries only answers 429/5xx (a repeated notification is harmless, a
 * network error mid-send may have delivered it), after Retry-After when given. Throws
 * HttpStatusError / HttpTransportError; the message names the host, never the URL's path or query
 * (a webhook URL is a secret).
 */
export async function postJson(url: string, payload: unknown, options: PostJsonOptions = {}) {
  const target = new URL(url)
  const client = new HttpClient({
    service: options.service ?? `webhook ${target.host}`,
    baseUrl: target.origin,
    fetch: options.fetch,
    clock: options.clock ?? systemClock,
    timeoutMs: options.timeoutMs ?? 10_000,
    budgetMs: options.budgetMs ?? 60_000,
    maxBodyBytes: options.maxBytes ?? 64 * 1024,
    retry: { maxTries: options.maxTries ?? 3 }
  })
  const response = await client.request('POST', target.href, {
    json: payload,
    headers: options.headers,
    retry: 'server-error',
    label: 'POST'
  })
  return { status: response.status, text: response.text }
}
