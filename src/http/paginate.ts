/**
 * Reading whole lists. Three pagination styles: a `Link: <...>; rel="next"` header (GitHub,
 * Netlify), Vercel's `pagination.next` passed back as `until=` (deployment lists; the env list
 * takes no page parameter: readVercelList), and plain `page`/`per_page`.
 * Every reader has a page cap; a list not read to the end is an error (ListNotReadError), never a
 * silently partial answer.
 */
import type { HttpClient, RequestOptions } from './client.js'
import { ListNotReadError } from './errors.js'

export interface ListOptions {
  /** Names the list in messages: `the env list of Vercel project outline-app`. */
  what: string
  /** Pages read at most (default 50). */
  maxPages?: number
  query?: Record<string, string | undefined>
  /** Passed to every page's request (deadline, timeout). */
  request?: Omit<RequestOptions, 'query'>
  /** Stop after the page for which this holds: what is wanted was found (the rest is not needed). */
  stopWhen?: (page: unknown[]) => boolean | Promise<boolean>
  /** What to do when the list is longer than the cap (the default: a generic hint). */
  capHint?: string
}

const DEFAULT_MAX_PAGES = 50

function capped(options: ListOptions, maxPages: number): ListNotReadError {
  return new ListNotReadError(
    `${options.what} has more than ${maxPages} pages: it was not read to the end, so it is not used`,
    options.capHint ??
      'Remove unused entries on the platform, or raise the page cap where this list is read.'
  )
}

/** The `rel="next"` URL of a Link header, if any. */
export function nextLink(header: string | null): string | undefined {
  if (!header) return undefined
  for (const part of header.split(',')) {
    const match = /<([^>]*)>\s*;(.*)$/.exec(part.trim())
    if (match && /\brel="?([^"]*\s)?next(\s[^"]*)?"?/i.test(match[2]!)) return match[1]
  }
  return undefined
}

/** Follows `Link: rel="next"` from `path`; `items` picks a page's entries from its JSON body. */
export async function readLinkedPages<T>(
  client: HttpClient,
  path: string,
  items: (body: unknown) => T[],
  options: ListOptions
): Promise<T[]> {
  const maxPages = options.maxPages ?? DEFAULT_MAX_PAGES
  const all: T[] = []
  let target: string | undefined = path
  let query = options.query
  for (let page = 1; target !== undefined; page++) {
    if (page > maxPages) throw capped(options, maxPages)
    const response = await client.request('GET', target, { ...options.request, query })
    const entries = items(response.json<unknown>())
    all.push(...entries)
    if (await options.stopWhen?.(entries)) return all
    target = nextLink(response.headers.get('link'))
    // The next link carries its own query.
    query = undefined
  }
  return all
}

/** Vercel: `{<key>: [...], pagination: {next}}`, the next page asked with `until=<next>`. */
export async function readVercelPages<T>(
  client: HttpClient,
  path: string,
  key: string,
  options: ListOptions
): Promise<T[]> {
  const maxPages = options.maxPages ?? DEFAULT_MAX_PAGES
  const all: T[] = []
  let until: string | undefined
  for (let page = 1; ; page++) {
    if (page > maxPages) throw capped(options, maxPages)
    const body = await client.json<Record<string, unknown>>('GET', path, {
      ...options.request,
      query: { ...options.query, until }
    })
    const entries = body[key]
    if (!Array.isArray(entries))
      throw new ListNotReadError(
        `${options.what}: the answer has no \`${key}\` list`,
        'Check the configured API URL.'
      )
    all.push(...(entries as T[]))
    if (await options.stopWhen?.(entries)) return all
    const next = (body.pagination as { next?: unknown } | undefined)?.next
    if (next === null || next === undefined) return all
    until = String(next)
  }
}

/**
 * Vercel lists without a page parameter (the env list): the one answer is the whole list, and a
 * non-null `pagination.next` (more the endpoint cannot be asked for) is refused, never ignored.
 */
export async function readVercelList<T>(
  client: HttpClient,
  path: string,
  key: string,
  options: Omit<ListOptions, 'maxPages' | 'stopWhen'>
): Promise<T[]> {
  const body = await client.json<Record<string, unknown>>('GET', path, {
    ...options.request,
    query: options.query
  })
  const entries = body[key]
  if (!Array.isArray(entries))
    throw new ListNotReadError(
      `${options.what}: the answer has no \`${key}\` list`,
      'Check the configured API URL.'
    )
  const next = (body.pagination as { next?: unknown } | undefined)?.next
  if (next !== null && next !== undefined)
    throw new ListNotReadError(
      `${options.what}: Vercel says there is more (pagination.next ${String(next)}), but the endpoint has no parameter to ask for it: not read to the end, so it is not used`,
      options.capHint
    )
  return entries as T[]
}

/**
 * `page=1,2,...` with `per_page`: stops at a page shorter than `perPage`, or, when the server
 * sends Link headers, at the page without a `rel="next"`.
 */
export async function readNumberedPages<T>(
  client: HttpClient,
  path: string,
  items: (body: unknown) => T[],
  options: ListOptions & { perPage?: number }
): Promise<T[]> {
  const maxPages = options.maxPages ?? DEFAULT_MAX_PAGES
  const perPage = options.perPage ?? 100
  const all: T[] = []
  for (let page = 1; ; page++) {
    if (page > maxPages) throw capped(options, maxPages)
    const response = await client.request('GET', path, {
      ...options.request,
      query: { ...options.query, page: String(page), per_page: String(perPage) }
    })
    const entries = items(response.json<unknown>())
    all.push(...entries)
    if (await options.stopWhen?.(entries)) return all
    const link = response.headers.get('link')
    const more = link !== null ? nextLink(link) !== undefined : entries.length >= perPage
    if (!more || entries.length === 0) return all
  }
}
