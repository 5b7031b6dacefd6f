/**
 * The HTTP layer every outbound call uses (hosting providers, the webhook, verify's checks).
 *
 * API (kept stable; the Netlify provider builds on it):
 *
 *   const http = new HttpClient({
 *     service: 'Netlify',                       // names the service in messages
 *     baseUrl: 'https://api.netlify.com/api/v1',
 *     headers: { authorization: `Bearer ${token}` },   // never logged
 *     query: { teamId },                        // optional, added to every request
 *     fetch,                                    // optional: createFetch(proxy) from the entry point, or a test's
 *     clock,                                    // optional { now, sleep, random } (tests inject)
 *     timeoutMs, budgetMs, maxBodyBytes,        // per try (30 s), per call incl. retries (5 min), body (8 MiB)
 *     retry: { maxTries, baseDelayMs, maxBackoffMs, jitterMs },
 *     errorShape: netlifyErrorShape,            // vercelErrorShape | netlifyErrorShape | githubErrorShape
 *     mapError: e => ...,                       // HttpStatusError -> the provider's own RollbackError | undefined
 *     log
 *   })
 *   await http.json<T>('GET', '/sites/x', { query, deadline, timeoutMs, accept: [404] })
 *   await http.request('POST', '/sites/x/builds', { json: body, retry: 'rejected' })
 *     -> HttpResponse { status, headers, text, json<T>() }
 *
 * Retries (retry.ts): `retry` is `never` | `rejected` (429/503/rate-limit 403 only) |
 * `server-error` (also other 5xx) | `any-failure` (also network errors, timeouts). Default:
 * `any-failure` for GET/HEAD/OPTIONS/PUT/DELETE, `never` for POST/PATCH (mark a POST that is safe
 * to repeat). Retry-After (seconds or HTTP date) and X-RateLimit-Reset are honoured exactly plus
 * jitter; otherwise exponential back-off plus jitter; at most `maxTries` tries; a wait past the
 * call's deadline fails at once with "retry after <time>".
 *
 * Failures throw RollbackErrors: HttpStatusError { status, api: {code, message, details},
 * headers, what } (after `mapError`), HttpTransportError (unreachable, timeout, body too large,
 * no time left), ListNotReadError (a list longer than its page cap).
 *
 * Lists (paginate.ts): readLinkedPages (Link rel="next"), readVercelPages (pagination.next ->
 * until=), readVercelList (one answer; a non-null next refused), readNumberedPages (page/per_page; Link or a short page ends it); all capped by maxPages.
 * Polling (poll.ts): poll({ check, timeoutMs, clock, schedule = VERCEL_POLL_SCHEDULE, onState,
 * timeoutError }). Proxy (proxy.ts): the entry point calls createFetch(proxySettingsFrom(env)).
 * One-call helpers (simple.ts): checkUrl (verify: no retry, bounded body, any status is an
 * answer) and postJson (webhook: retried on 429/5xx only, path kept out of messages).
 */
export {
  HttpClient,
  type HttpClientOptions,
  type HttpResponse,
  type RequestOptions
} from './client.js'
export { systemClock, type Clock, type FetchLike } from './clock.js'
export {
  describeStatus,
  genericErrorShape,
  githubErrorShape,
  HttpStatusError,
  HttpTransportError,
  ListNotReadError,
  netlifyErrorShape,
  vercelErrorShape,
  type ApiError,
  type ErrorShapeParser
} from './errors.js'
export {
  DEFAULT_RETRY,
  defaultRetryWhen,
  isRateLimited,
  retryDecision,
  serverWaitMs,
  type RetrySettings,
  type RetryWhen
} from './retry.js'
export {
  nextLink,
  readLinkedPages,
  readNumberedPages,
  readVercelList,
  readVercelPages,
  type ListOptions
} from './paginate.js'
export {
  poll,
  pollInterval,
  VERCEL_POLL_SCHEDULE,
  type PollOptions,
  type PollResult,
  type PollStep
} from './poll.js'
export {
  ACTIONS_CONVENTION,
  bypassesProxy,
  createFetch,
  proxyFor,
  proxySettingsFrom,
  type ProxyConvention,
  type ProxySettings
} from './proxy.js'
export {
  checkUrl,
  postJson,
  type CheckAnswer,
  type CheckOptions,
  type PostJsonOptions
} from './simple.js'
