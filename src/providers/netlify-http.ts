/**
 * The Netlify API on the shared HTTP layer: Bearer auth, errors `{code, message}` turned into
 * messages that say what to fix. Retries, `X-RateLimit-Reset` waits and deadlines are the
 * layer's; which calls may be repeated is decided per call in netlify.ts, because Netlify has no
 * idempotency keys.
 */
import {
  HttpClient,
  HttpStatusError,
  netlifyErrorShape,
  type Clock,
  type FetchLike
} from '../http/index.js'
import type { Logger } from '../util/logger.js'
import { RollbackError } from '../util/errors.js'

export interface NetlifyHttpOptions {
  apiUrl: string
  token: string
  /** Where the token came from (an env variable name), for hints. Never the token. */
  tokenSource: string
  site: string
  fetch?: FetchLike
  clock: Clock
  log?: Logger
}

function mapError(error: HttpStatusError, options: NetlifyHttpOptions): Error | undefined {
  const detail = `${error.status}: ${error.api.message ?? 'no message'}`
  if (error.status === 401)
    return new RollbackError(
      `Netlify rejected the token (${detail})`,
      `Put a valid Netlify personal access token in ${options.tokenSource} (User settings > Applications > Personal access tokens).`
    )
  if (error.status === 403)
    return new RollbackError(
      `Netlify refused ${error.what} (${detail})`,
      `The token in ${options.tokenSource} cannot change site ${options.site}: use a token of a member of the site's team with deploy rights, or fix hosting.account.`
    )
  if (error.status === 404 && /\/sites\/[^/]+$/.test(error.what))
    return new RollbackError(
      `Netlify site \`${options.site}\` not found (${detail})`,
      'Check hosting.project: the site id (Site configuration > Site information) or its <name>.netlify.app domain.'
    )
  if (error.status >= 500 && error.what.startsWith('POST '))
    return new RollbackError(
      `Netlify ${error.what} failed (${detail})`,
      'Netlify may or may not have done it (it has no idempotency keys): check the Netlify UI, then rerun; a rerun reads the current state first.'
    )
  if (error.status >= 400 && error.status < 500 && error.status !== 429)
    return new RollbackError(
      `Netlify refused ${error.what} (${detail})`,
      'Fix what Netlify names (the runbook hosting or flags section, or the site in the Netlify UI), then rerun.'
    )
  return undefined
}

export function netlifyClient(options: NetlifyHttpOptions): HttpClient {
  return new HttpClient({
    service: 'Netlify',
    baseUrl: options.apiUrl,
    headers: { authorization: `Bearer ${options.token}` },
    fetch: options.fetch,
    clock: options.clock,
    errorShape: netlifyErrorShape,
    mapError: error => mapError(error, options),
    log: options.log
  })
}
