/**
 * Errors of the HTTP layer and the providers' error-body shapes. Every error is a RollbackError
 * (one sentence, a hint), and carries what a provider needs to say something more precise.
 */
import { RollbackError } from '../util/errors.js'

/** What a provider's error body says, whatever its shape. */
export interface ApiError {
  code?: string
  message?: string
  /** The rest of the error object (Vercel's `key`, `invalidToken`, `limit`...). */
  details: Record<string, unknown>
}

/** Reads an error body (already JSON-parsed when it was JSON, else undefined) into an ApiError. */
export type ErrorShapeParser = (body: unknown, text: string) => ApiError

const record = (value: unknown): Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {}
const str = (value: unknown) => (typeof value === 'string' ? value : undefined)
/** A non-JSON body (an HTML error page from a proxy) is quoted briefly, never at length. */
const textMessage = (text: string) => text.replace(/\s+/g, ' ').trim().slice(0, 200) || undefined

/** Vercel: `{"error":{"code","message",...}}`. */
export const vercelErrorShape: ErrorShapeParser = (body, text) => {
  const error = record(record(body).error)
  return {
    code: str(error.code),
    message: str(error.message) ?? (body === undefined ? textMessage(text) : undefined),
    details: error
  }
}

/** Netlify: `{"code":404,"message":"Not Found"}` (code is the HTTP status, a number). */
export const netlifyErrorShape: ErrorShapeParser = (body, text) => {
  const error = record(body)
  const code = error.code
  return {
    code: typeof code === 'number' ? String(code) : str(code),
    message: str(error.message) ?? (body === undefined ? textMessage(text) : undefined),
    details: error
  }
}

/** GitHub: `{"message","documentation_url","errors"?,"status"?}`. */
export const githubErrorShape: ErrorShapeParser = (body, text) => {
  const error = record(body)
  return {
    message: str(error.message) ?? (body === undefined ? textMessage(text) : undefined),
    details: error
  }
}

/** Any JSON error body: `message`/`error` strings or nested `error.message`. */
export const genericErrorShape: ErrorShapeParser = (body, text) => {
  const error = record(body)
  const nested = record(error.error)
  return {
    code: str(error.code) ?? str(nested.code),
    message:
      str(error.message) ??
      str(nested.message) ??
      str(error.error) ??
      (body === undefined ? textMessage(text) : undefined),
    details: error
  }
}

/** The server answered with a status the caller does not accept (after any retries). */
export class HttpStatusError extends RollbackError {
  constructor(
    message: string,
    hint: string | undefined,
    readonly status: number,
    readonly api: ApiError,
    readonly headers: Headers,
    /** `GET /v9/projects/x`: method and path, no query (it may carry ids) and never a header. */
    readonly what: string
  ) {
    super(message, hint)
    this.name = 'HttpStatusError'
  }
}

/** No usable answer: unreachable, timed out, body too large, or no time left to retry. */
export class HttpTransportError extends RollbackError {
  constructor(
    message: string,
    hint: string | undefined,
    readonly what: string,
    /** The failure alone (`ECONNREFUSED`, `no answer within 5.0 s`), for callers that word their own. */
    readonly reason?: string
  ) {
    super(message, hint)
    this.name = 'HttpTransportError'
  }
}

/** A list was not read to the end (the page cap was reached): never use it as if complete. */
export class ListNotReadError extends RollbackError {
  constructor(message: string, hint?: string) {
    super(message, hint)
    this.name = 'ListNotReadError'
  }
}

/** `401 not_authorized: message`, for error messages. */
export function describeStatus(status: number, api: ApiError): string {
  const code = api.code && api.code !== String(status) ? ` ${api.code}` : ''
  return `${status}${code}: ${api.message ?? 'no message'}`
}
