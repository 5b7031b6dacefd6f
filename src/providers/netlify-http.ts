/**
 * One Netlify API request: Bearer auth, JSON, errors `{code, message}` turned into RollbackErrors
 * that say what to fix, the `Link` header's next page, and bounded retries. A 429 waits until
 * `X-RateLimit-Reset` (never sooner, plus jitter); 5xx and network errors are retried only for
 * methods that are safe to repeat, because Netlify has no idempotency keys.
 */
import { RollbackError } from '../util/errors.js'
import type { Logger } from '../util/logger.js'
import { formatDuration } from '../util/duration.js'

export const MAX_TRIES = 5
/** A rate-limit reset further away than this fails the call instead of waiting for it. */
export const MAX_RATE_LIMIT_WAIT_MS = 120_000
const RETRY_5XX_MS = 5_000
const REPEATABLE = new Set(['GET', 'PUT', 'PATCH', 'DELETE'])

export interface NetlifyRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  /** Under the API base; or `url`, a full URL (a `Link` header's next page). */
  path?: string
  url?: string
  query?: Record<string, string>
  body?: unknown
  /** 'undefined': a 404 is an answer (status 404, body undefined), not an error. */
  notFound?: 'undefined'
}

export interface NetlifyAnswer<T> {
  status: number
  body: T
  /** The next page's URL from the `Link` header. */
  next?: string
}

export interface NetlifyHttp {
  apiUrl: string
  token: string
  tokenSource: string
  site: string
  fetch: typeof fetch
  sleep(ms: number): Promise<void>
  log?: Logger
  now(): number
  random(): number
}

/** The `rel="next"` URL of a `Link` header. */
export function nextLink(header: string | null): string | undefined {
  for (const part of (header ?? '').split(',')) {
    const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(part)
    if (match) return match[1]
  }
  return undefined
}

/** Wait before retrying a 429: until the reset time, at least 1 s, plus up to 1 s of jitter. */
export function rateLimitWait(reset: string | null, now: number, random: () => number): number {
  const resetMs = Number(reset) * 1000
  const until = Number.isFinite(resetMs) && reset !== null ? resetMs - now : 60_000
  return Math.max(1_000, Math.ceil(until)) + Math.floor(random() * 1000)
}

function mapError(what: string, status: number, message: string, http: NetlifyHttp) {
  const detail = `${status}: ${message}`
  if (status === 401)
    return new RollbackError(
      `Netlify rejected the token (${detail})`,
      `Put a valid Netlify personal access token in ${http.tokenSource} (User settings > Applications > Personal access tokens).`
    )
  if (status === 403)
    return new RollbackError(
      `Netlify refused ${what} (${detail})`,
      `The token in ${http.tokenSource} cannot change site ${http.site}: use a token of a member of the site's team with deploy rights, or fix hosting.account.`
    )
  if (status === 404 && what.includes('/sites/'))
    return new RollbackError(
      `Netlify site \`${http.site}\` not found (${detail})`,
      'Check hosting.project: the site id (Site configuration > Site information) or its <name>.netlify.app domain.'
    )
  return new RollbackError(`Netlify API ${what} failed (${detail})`)
}

/** Sends one request, retrying what may be retried; throws RollbackError otherwise. */
export async function netlifyFetch<T>(
  req: NetlifyRequest,
  http: NetlifyHttp
): Promise<NetlifyAnswer<T>> {
  const url = new URL(req.url ?? http.apiUrl + (req.path ?? ''))
  for (const [k, v] of Object.entries(req.query ?? {})) url.searchParams.set(k, v)
  const what = `${req.method} ${url.pathname}`
  const repeatable = REPEATABLE.has(req.method)
  let last = ''
  for (let attempt = 1; ; attempt++) {
    let response: Response
    try {
      response = await http.fetch(url, {
        method: req.method,
        headers: {
          authorization: `Bearer ${http.token}`,
          accept: 'application/json',
          ...(req.body !== undefined ? { 'content-type': 'application/json' } : {})
        },
        body: req.body !== undefined ? JSON.stringify(req.body) : undefined,
        signal: AbortSignal.timeout(60_000)
      })
    } catch (err) {
      last = `cannot reach ${url.host}: ${err instanceof Error ? err.message : String(err)}`
      if (!repeatable || attempt === MAX_TRIES) break
      http.log?.warn(
        `Netlify ${what}: ${last}; retrying in ${formatDuration(RETRY_5XX_MS)} (try ${attempt}/${MAX_TRIES})`
      )
      await http.sleep(RETRY_5XX_MS)
      continue
    }
    const text = await response.text()
    let body: unknown
    try {
      body = text ? JSON.parse(text) : undefined
    } catch {
      body = { message: text.slice(0, 200) }
    }
    if (response.ok)
      return {
        status: response.status,
        body: body as T,
        next: nextLink(response.headers.get('link'))
      }
    if (response.status === 404 && req.notFound === 'undefined')
      return { status: 404, body: undefined as T }
    const message = (body as { message?: string } | undefined)?.message ?? 'no message'
    last = `${response.status}: ${message}`
    let wait: number | undefined
    if (response.status === 429)
      wait = rateLimitWait(response.headers.get('x-ratelimit-reset'), http.now(), http.random)
    else if (response.status >= 500 && repeatable) wait = RETRY_5XX_MS
    if (wait === undefined && response.status >= 500) break
    if (wait === undefined) throw mapError(what, response.status, message, http)
    if (wait > MAX_RATE_LIMIT_WAIT_MS)
      throw new RollbackError(
        `Netlify API ${what} is rate limited for another ${formatDuration(wait)} (${last})`,
        'The token used up its request budget (other tools share it): wait for the reset and rerun; the rollback converges on a rerun.'
      )
    if (attempt === MAX_TRIES) break
    http.log?.warn(
      `Netlify ${what}: ${last}; retrying in ${formatDuration(wait)} (try ${attempt}/${MAX_TRIES})`
    )
    await http.sleep(wait)
  }
  throw new RollbackError(
    `Netlify API ${what} failed (last: ${last})${repeatable ? ` after ${MAX_TRIES} tries` : ''}`,
    repeatable
      ? 'Netlify is rate limiting or unavailable: check https://www.netlifystatus.com and rerun; the rollback converges on a rerun.'
      : 'Netlify may or may not have done it (it has no idempotency keys): check the Netlify UI, then rerun; a rerun reads the current state first.'
  )
}
