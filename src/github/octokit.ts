/**
 * The one place that builds an Octokit: `@actions/github`'s, with the retry and throttling
 * plugins, GitHub's API version pinned, every attempt timed out, and requests routed through the
 * proxy the typed settings name (callers read the environment, this module never does).
 *
 * Waits are bounded: a request is retried at most `retries` times, and a rate limit whose reset
 * is further away than `maxWaitSeconds` fails the call instead of waiting.
 */
import { getOctokit } from '@actions/github'
import { retry } from '@octokit/plugin-retry'
import { throttling } from '@octokit/plugin-throttling'
import { fetch as undiciFetch, ProxyAgent, type Dispatcher } from 'undici'
import type { Logger } from '../util/logger.js'
import { proxyFor, type ProxySettings } from './proxy.js'

export type Octokit = ReturnType<typeof getOctokit>

export interface RetryLimits {
  /** Retries of one request after a server error or a rate limit. */
  retries: number
  /** The longest rate-limit wait accepted, in seconds; a longer one fails the call. */
  maxWaitSeconds: number
  /** Milliseconds in one second of `retry-after` (tests shorten the waits). */
  secondMs: number
  /** Time one attempt may take, in milliseconds. */
  attemptTimeoutMs: number
}

export const DEFAULT_LIMITS: RetryLimits = {
  retries: 3,
  maxWaitSeconds: 60,
  secondMs: 1000,
  attemptTimeoutMs: 30_000
}

export interface OctokitOptions {
  token: string
  /** REST API root, e.g. https://api.github.com or https://ghe.example/api/v3 */
  apiUrl: string
  proxy?: ProxySettings
  log?: Logger
  limits?: Partial<RetryLimits>
}

export const GITHUB_API_VERSION = '2022-11-28'

/** Statuses the retry plugin leaves alone: a client error, or a rate limit (throttling's). */
const DO_NOT_RETRY = [400, 401, 403, 404, 410, 422, 429, 451]

function proxyDispatcher(apiUrl: string, settings: ProxySettings = {}): Dispatcher | undefined {
  const proxy = proxyFor(new URL(apiUrl), settings)
  if (!proxy) return undefined
  const credentials =
    proxy.username || proxy.password
      ? `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`
      : undefined
  return new ProxyAgent({
    uri: proxy.href,
    ...(credentials ? { token: `Basic ${Buffer.from(credentials).toString('base64')}` } : {})
  })
}

/** fetch through `dispatcher` (direct when undefined), each attempt limited to `timeoutMs`. */
function timedFetch(dispatcher: Dispatcher | undefined, timeoutMs: number): typeof fetch {
  const attempt = (url: string, init: RequestInit = {}) => {
    const timeout = AbortSignal.timeout(timeoutMs)
    const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout
    return undiciFetch(url, {
      ...(init as Parameters<typeof undiciFetch>[1]),
      signal,
      ...(dispatcher ? { dispatcher } : {})
    })
  }
  return attempt as unknown as typeof fetch
}

function octokitLog(log: Logger | undefined) {
  const text = (message: string, extra: unknown[]) =>
    [message, ...extra.map(x => (typeof x === 'string' ? x : JSON.stringify(x)))].join(' ')
  const quiet = () => {}
  return {
    debug: log ? (m: string, ...x: unknown[]) => log.debug(text(m, x)) : quiet,
    info: log ? (m: string, ...x: unknown[]) => log.debug(text(m, x)) : quiet,
    warn: log ? (m: string, ...x: unknown[]) => log.warn(text(m, x)) : quiet,
    error: log ? (m: string, ...x: unknown[]) => log.error(text(m, x)) : quiet
  }
}

/**
 * The throttling plugin spaces every write 1 s apart, and content that notifies people 3 s
 * (GitHub's advice for clients making many). A run makes a handful, and a rollback's notice
 * should not wait: they go at once, and a secondary rate limit, if one comes, is waited out.
 */
const UNPACED = {
  key: () => ({
    schedule: (_options: unknown, job: (...args: unknown[]) => unknown, ...args: unknown[]) =>
      Promise.resolve(job(...args))
  })
}

/** The throttling plugin's handler: wait and retry while within the limits, else give up. */
function onLimit(kind: string, limits: RetryLimits, log: Logger | undefined) {
  return (retryAfter: number, request: { method: string; url: string }, _o: unknown, n: number) => {
    const what = `${request.method} ${request.url}`
    if (n >= limits.retries || retryAfter > limits.maxWaitSeconds) {
      log?.warn(`GitHub ${kind} on ${what}: not waiting ${retryAfter}s more (tried ${n + 1} times)`)
      return false
    }
    log?.warn(`GitHub ${kind} on ${what}: retrying in ${retryAfter}s`)
    return true
  }
}

export function createOctokit(options: OctokitOptions): Octokit {
  const limits = { ...DEFAULT_LIMITS, ...options.limits }
  const baseUrl = options.apiUrl.replace(/\/+$/, '')
  const octokit = getOctokit(
    options.token,
    {
      baseUrl,
      userAgent: 'emergency-rollback',
      log: octokitLog(options.log),
      request: {
        fetch: timedFetch(proxyDispatcher(baseUrl, options.proxy), limits.attemptTimeoutMs)
      },
      retry: {
        retries: limits.retries,
        doNotRetry: DO_NOT_RETRY,
        retryAfterBaseValue: limits.secondMs
      },
      throttle: {
        id: baseUrl,
        write: UNPACED as never,
        notifications: UNPACED as never,
        retryAfterBaseValue: limits.secondMs,
        fallbackSecondaryRateRetryAfter: limits.maxWaitSeconds,
        onRateLimit: onLimit('rate limit', limits, options.log),
        onSecondaryRateLimit: onLimit('secondary rate limit', limits, options.log)
      }
    },
    retry,
    throttling
  )
  octokit.hook.before('request', request => {
    request.headers['x-github-api-version'] = GITHUB_API_VERSION
  })
  return octokit
}
