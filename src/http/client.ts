/**
 * The HTTP client every API call goes through: one base URL and its headers, a timeout per try,
 * a deadline per call (retries included), bounded bodies, the retry policy of retry.ts, and the
 * provider's error shape. A failed call throws HttpStatusError / HttpTransportError (RollbackErrors),
 * optionally remapped by the provider's `mapError` into a message that names what to fix.
 */
import type { Logger } from '../util/logger.js'
import { formatDuration } from '../util/duration.js'
import { readBounded } from './body.js'
import { systemClock, type Clock, type FetchLike } from './clock.js'
import {
  describeStatus,
  genericErrorShape,
  HttpStatusError,
  HttpTransportError,
  type ApiError,
  type ErrorShapeParser
} from './errors.js'
import {
  DEFAULT_RETRY,
  defaultRetryWhen,
  retryDecision,
  type FailedTry,
  type RetrySettings,
  type RetryWhen
} from './retry.js'

export interface HttpClientOptions {
  /** Names the service in messages: `Vercel`, `Netlify`, `GitHub`. */
  service: string
  /** Every relative path is resolved against it; absolute URLs must share its origin. */
  baseUrl: string
  /** Sent with every request (authorization...). Never logged or put in a message. */
  headers?: Record<string, string>
  /** Added to every request's query (Vercel's `teamId`). */
  query?: Record<string, string | undefined>
  /** Default: the global fetch. Entry points pass `createFetch(proxy)` (proxy.ts). */
  fetch?: FetchLike
  clock?: Clock
  /** Per try (default 30 s). */
  timeoutMs?: number
  /** Per call, retries and waits included (default 5 min). */
  budgetMs?: number
  /** Largest body read (default 8 MiB); a larger one fails the call. */
  maxBodyBytes?: number
  retry?: Partial<RetrySettings>
  errorShape?: ErrorShapeParser
  /** Turns a failed answer into the provider's own error (undefined: keep the generic one). */
  mapError?: (error: HttpStatusError) => Error | undefined
  log?: Logger
}

export interface RequestOptions {
  query?: Record<string, string | undefined>
  /** Sent as JSON. */
  json?: unknown
  headers?: Record<string, string>
  /** Default: `any-failure` for idempotent methods, `never` for POST/PATCH (see retry.ts). */
  retry?: RetryWhen
  timeoutMs?: number
  /** Epoch ms (clock time) by which the call must be over; default now + budgetMs. */
  deadline?: number
  maxBodyBytes?: number
  /** Statuses returned as answers instead of thrown (e.g. 404 for "not there"). */
  accept?: readonly number[]
  /** Names the call in messages instead of `METHOD /path` (when the path is a secret). */
  label?: string
}

export interface HttpResponse {
  status: number
  headers: Headers
  text: string
  /** The body parsed as JSON; throws HttpTransportError when it is not JSON. */
  json<T>(): T
}

const DEFAULTS = { timeoutMs: 30_000, budgetMs: 300_000, maxBodyBytes: 8 * 1024 * 1024 }

type Try = { kind: 'answer'; response: HttpResponse } | { kind: 'network'; message: string }

function failureOf(result: Try): FailedTry {
  return result.kind === 'network'
    ? { kind: 'network' }
    : { kind: 'status', status: result.response.status, headers: result.response.headers }
}

export class HttpClient {
  readonly service: string
  private readonly base: URL
  private readonly clock: Clock
  private readonly retrySettings: RetrySettings
  private readonly errorShape: ErrorShapeParser

  constructor(private readonly options: HttpClientOptions) {
    this.service = options.service
    this.base = new URL(options.baseUrl.replace(/\/*$/, '/'))
    this.clock = options.clock ?? systemClock
    this.retrySettings = { ...DEFAULT_RETRY, ...options.retry }
    this.errorShape = options.errorShape ?? genericErrorShape
  }

  /** Resolves `target` (a path like `/v9/projects/x`, or a same-origin absolute URL). */
  url(target: string, query: Record<string, string | undefined> = {}): URL {
    const absolute = /^https?:\/\//i.test(target)
    const url = absolute ? new URL(target) : new URL(target.replace(/^\/+/, ''), this.base)
    if (url.origin !== this.base.origin)
      // A next-page link elsewhere must not receive our token.
      throw new HttpTransportError(
        `${this.service} pointed to ${url.origin}, another origin than ${this.base.origin}: not followed`,
        'This answer is unexpected from the API; check the configured API URL.',
        `GET ${url.pathname}`
      )
    for (const [k, v] of Object.entries({ ...this.options.query, ...query }))
      if (v !== undefined) url.searchParams.set(k, v)
    return url
  }

  /** The call, retried per the policy; a 2xx (or an `accept`ed status) answer. */
  async request(method: string, target: string, opts: RequestOptions = {}): Promise<HttpResponse> {
    const url = this.url(target, opts.query)
    const what = opts.label ?? `${method} ${url.pathname}`
    const started = this.clock.now()
    const deadline = opts.deadline ?? started + (this.options.budgetMs ?? DEFAULTS.budgetMs)
    const when = opts.retry ?? defaultRetryWhen(method)
    let slept = 0
    // Waited time counts even when an injected sleep returns at once: the deadline still binds.
    const lateBy = () => Math.max(0, started + slept - this.clock.now())
    for (let tries = 1; ; tries++) {
      const remaining = deadline - lateBy() - this.clock.now()
      if (remaining <= 0)
        throw new HttpTransportError(
          `${this.service} ${what}: no time left for it before the deadline (try ${tries})`,
          'The step ran out of time; rerun it: the rollback converges on a rerun.',
          what
        )
      const timeout = Math.min(
        opts.timeoutMs ?? this.options.timeoutMs ?? DEFAULTS.timeoutMs,
        remaining
      )
      const result = await this.tryOnce(method, url, what, opts, timeout)
      if (result.kind === 'answer') {
        const { status } = result.response
        if ((status >= 200 && status < 300) || opts.accept?.includes(status)) return result.response
      }
      const decision = retryDecision({
        when,
        failure: failureOf(result),
        triesDone: tries,
        settings: this.retrySettings,
        nowMs: this.clock.now(),
        deadlineMs: deadline - lateBy(),
        random: this.clock.random
      })
      if (decision.retry) {
        this.options.log?.warn(
          `${this.service} ${what}: ${this.summary(result)}; retrying in ${formatDuration(decision.waitMs)} (try ${tries}/${this.retrySettings.maxTries})`
        )
        await this.clock.sleep(decision.waitMs)
        slept += decision.waitMs
        continue
      }
      throw result.kind === 'network'
        ? this.networkError(what, result.message, tries)
        : this.statusError(what, result.response, tries, decision)
    }
  }

  private networkError(what: string, message: string, tries: number): HttpTransportError {
    return new HttpTransportError(
      `cannot reach ${this.service} for ${what}: ${message}${tries > 1 ? ` (${tries} tries)` : ''}`,
      `Check the network path to ${this.base.host} (proxy settings, firewall) and rerun.`,
      what,
      message
    )
  }

  /** `request`, then the body as JSON. */
  async json<T>(method: string, target: string, opts: RequestOptions = {}): Promise<T> {
    return (await this.request(method, target, opts)).json<T>()
  }

  private summary(result: Try): string {
    if (result.kind === 'network') return result.message
    return describeStatus(result.response.status, this.apiError(result.response))
  }

  private apiError(response: HttpResponse): ApiError {
    let body: unknown
    try {
      body = response.text ? JSON.parse(response.text) : {}
    } catch {
      body = undefined
    }
    return this.errorShape(body, response.text)
  }

  private statusError(
    what: string,
    response: HttpResponse,
    tries: number,
    decision: Exclude<ReturnType<typeof retryDecision>, { retry: true }>
  ): Error {
    const api = this.apiError(response)
    const detail = describeStatus(response.status, api)
    const make = (message: string, hint?: string) =>
      new HttpStatusError(message, hint, response.status, api, response.headers, what)
    if (decision.reason === 'deadline') {
      const at = new Date(decision.retryAtMs).toISOString()
      return make(
        `${this.service} ${what}: ${detail}; the server asks to wait ${formatDuration(decision.waitMs)}, past this step's deadline`,
        `Retry after ${at}: the rollback converges on a rerun.`
      )
    }
    const generic =
      decision.reason === 'tries'
        ? make(
            `${this.service} ${what} still failing after ${tries} tries (last: ${detail})`,
            `${this.service} is rate limiting or unavailable: check its status page and rerun; the rollback converges on a rerun.`
          )
        : make(`${this.service} ${what} failed (${detail})`)
    // Exhausted retries are about the service's state, not about what the caller must fix.
    if (decision.reason === 'tries') return generic
    return this.options.mapError?.(generic) ?? generic
  }

  private async tryOnce(
    method: string,
    url: URL,
    what: string,
    opts: RequestOptions,
    timeoutMs: number
  ): Promise<Try> {
    const fetch = this.options.fetch ?? (globalThis.fetch as FetchLike)
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': 'emergency-rollback',
      ...this.options.headers,
      ...opts.headers,
      ...(opts.json !== undefined ? { 'content-type': 'application/json' } : {})
    }
    const maxBytes = opts.maxBodyBytes ?? this.options.maxBodyBytes ?? DEFAULTS.maxBodyBytes
    let response: Response
    let body
    try {
      const signal = AbortSignal.timeout(timeoutMs)
      response = await fetch(url, {
        method,
        headers,
        body: opts.json !== undefined ? JSON.stringify(opts.json) : undefined,
        signal,
        redirect: 'manual'
      })
      body = await readBounded(response, maxBytes)
    } catch (err) {
      return { kind: 'network', message: networkMessage(err, timeoutMs) }
    }
    if (body.truncated)
      throw new HttpTransportError(
        `${this.service} ${what} answered more than ${maxBytes} bytes: not read`,
        'The answer is far larger than this API sends; check the configured API URL.',
        what
      )
    return { kind: 'answer', response: this.answer(what, response, body.text) }
  }

  private answer(what: string, response: Response, text: string): HttpResponse {
    const service = this.service
    return {
      status: response.status,
      headers: response.headers,
      text,
      json<T>(): T {
        try {
          return (text ? JSON.parse(text) : {}) as T
        } catch {
          throw new HttpTransportError(
            `${service} ${what} answered ${response.status} with a body that is not JSON`,
            'Check the configured API URL (a proxy or a login page may be answering instead).',
            what
          )
        }
      }
    }
  }
}

/** `no answer within 30.0 s`, `ECONNREFUSED 127.0.0.1:9`: one line, no stack. */
export function networkMessage(err: unknown, timeoutMs: number): string {
  // Duck-typed: a DOMException or an error from another realm is not `instanceof Error`.
  const e = (typeof err === 'object' && err !== null ? err : {}) as {
    name?: string
    message?: string
    cause?: { code?: string; message?: string }
  }
  if (e.name === 'TimeoutError' || e.name === 'AbortError')
    return `no answer within ${formatDuration(timeoutMs)}`
  if (e.cause?.code) return e.cause.code
  return e.message ?? String(err)
}
