/**
 * Connections for the database phases: the URL from the run's secrets or the variable the runbook
 * names, TLS from `sslmode`, `application_name` so DBAs see the rollback in pg_stat_activity,
 * statement_timeout and idle_in_transaction_session_timeout on every session we open, and errors
 * mapped to messages that say what to fix (the URL always masked).
 */
import { readFileSync } from 'node:fs'
import type pg from 'pg'
import { MissingSecretError, RollbackError } from '../util/errors.js'
import type { DatabaseConfig } from '../runbook/schema.js'
import { parseDuration } from '../util/duration.js'
import { maskUrl } from '../util/redact.js'
import type { MutationGate } from '../util/mutation-gate.js'

export const APPLICATION_NAME = 'emergency-rollback'

export interface DbSettings {
  url: string
  /** Where the URL came from, for messages ("the database-url input", "$DATABASE_URL"). */
  source: string
  statementTimeoutMs: number
  lockTimeoutMs: number
  lockRetries: number
  runId: string
  /** The run's mutation gate: a session opened while it is not open is read-only in PostgreSQL. */
  gate?: MutationGate
  /** The run holds the advisory lock on its own session for its whole length (see run-lock.ts). */
  runLockHeld?: boolean
}

const DEFAULTS = { 'url-env': 'DATABASE_URL', 'lock-timeout': '500ms', 'statement-timeout': '5m' }

/** Where a run's database URL can come from: the secret input, or the variable the runbook names. */
export interface DatabaseSource {
  config?: Partial<DatabaseConfig>
  /** The database-url input. */
  inputUrl?: string
  env: Readonly<Record<string, string | undefined>>
  runId: string
  gate?: MutationGate
}

/** Resolves the URL and timeouts for a run (schema/integrity use the database section too). */
export function dbSettings(source: DatabaseSource): DbSettings {
  const config: Partial<DatabaseConfig> = source.config ?? {}
  const urlEnv = config['url-env'] ?? DEFAULTS['url-env']
  const fromSecret = source.inputUrl
  const url = fromSecret ?? source.env[urlEnv]
  if (!url) {
    throw new MissingSecretError(
      `no database URL: neither the database-url input nor $${urlEnv} is set`,
      `pass database-url (a secret) or set ${urlEnv}; the runbook's database.url-env names the variable`
    )
  }
  return {
    url,
    source: fromSecret ? 'the database-url input' : `$${urlEnv}`,
    statementTimeoutMs: parseDuration(config['statement-timeout'] ?? DEFAULTS['statement-timeout']),
    lockTimeoutMs: parseDuration(config['lock-timeout'] ?? DEFAULTS['lock-timeout']),
    lockRetries: config['lock-retries'] ?? 8,
    runId: source.runId,
    gate: source.gate
  }
}

/**
 * The database URL, parsed: one that is no postgres:// URL is refused naming where it came from
 * (never echoing it: it holds a password).
 */
export function parseDatabaseUrl(url: string, source: string): URL {
  const example = 'use postgres://user:password@host:5432/dbname?sslmode=require'
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new RollbackError(`the database URL from ${source} is not a valid URL`, example)
  }
  if (!/^postgres(ql)?:$/.test(parsed.protocol)) {
    throw new RollbackError(
      `the database URL from ${source} must start with postgres:// (got ${parsed.protocol}//)`,
      example
    )
  }
  return parsed
}

/** pg client options from a URL: TLS per sslmode with libpq's meaning of each mode. */
export function clientConfig(settings: DbSettings, purpose: string): pg.ClientConfig {
  const parsed = parseDatabaseUrl(settings.url, settings.source)
  const params = parsed.searchParams
  const sslmode = params.get('sslmode') ?? 'prefer'
  const rootCert = params.get('sslrootcert')
  for (const key of ['sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'uselibpqcompat']) {
    params.delete(key)
  }
  let ssl: pg.ClientConfig['ssl'] = false
  // require, and prefer (libpq's default: TLS when the server offers it, see connect()).
  if (['require', 'no-verify', 'prefer', 'allow'].includes(sslmode)) {
    ssl = { rejectUnauthorized: false }
  }
  if (['verify-ca', 'verify-full'].includes(sslmode)) {
    ssl = { rejectUnauthorized: true }
    if (rootCert) ssl.ca = readFileSync(rootCert, 'utf8')
    if (sslmode === 'verify-ca') ssl.checkServerIdentity = () => undefined
  }
  const app = `${APPLICATION_NAME} ${purpose} ${settings.runId}`.slice(0, 63)
  return {
    connectionString: parsed.toString(),
    ssl,
    application_name: app,
    connectionTimeoutMillis: 15_000,
    statement_timeout: settings.statementTimeoutMs,
    // Be gentle: no parallel workers for our scans (on a small server they would take every core).
    options: `-c max_parallel_workers_per_gather=0${readOnlyUnlessOpen(settings)}`,
    idle_in_transaction_session_timeout: Math.max(settings.statementTimeoutMs, 60_000)
  }
}

/**
 * Sessions opened before the engine opened the gate (preflight, plan) refuse writes in the server
 * itself: `default_transaction_read_only`, which a statement of ours never turns off.
 */
function readOnlyUnlessOpen(settings: DbSettings): string {
  return settings.gate && settings.gate.state !== 'open'
    ? ' -c default_transaction_read_only=on'
    : ''
}

/** Opens a session; throws a RollbackError that says what is wrong, with the URL masked. */
export async function connect(settings: DbSettings, purpose: string): Promise<pg.Client> {
  // Loaded on first use: a run without database steps (or a plan) does not pay for it.
  const { default: postgres } = await import('pg')
  const config = clientConfig(settings, purpose)
  const open = async (options: pg.ClientConfig) => {
    const client = new postgres.Client(options)
    // An idle client whose server goes away emits 'error': never let that crash the process.
    client.on('error', () => {})
    try {
      await client.connect()
      return client
    } catch (err) {
      await client.end().catch(() => {})
      throw err
    }
  }
  try {
    return await open(config)
  } catch (err) {
    // sslmode prefer/allow (the default) falls back to a plain connection, as libpq does, only
    // when the server says it has no TLS.
    if (config.ssl && tlsIsOptional(settings.url) && /does not support SSL/i.test(String(err))) {
      return open({ ...config, ssl: false }).catch(plainErr => {
        throw connectionError(plainErr, settings)
      })
    }
    throw connectionError(err, settings)
  }
}

function tlsIsOptional(url: string): boolean {
  const mode = new URL(url).searchParams.get('sslmode') ?? 'prefer'
  return mode === 'prefer' || mode === 'allow'
}

export function connectionError(err: unknown, settings: DbSettings): RollbackError {
  const where = maskUrl(settings.url)
  const e = err as { code?: string; message?: string }
  const raw = (e.message ?? String(err)).split(settings.url).join(where)
  switch (e.code) {
    case 'ECONNREFUSED':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ETIMEDOUT':
      return new RollbackError(
        `database unreachable at ${where} (${e.code})`,
        `check the host and port in ${settings.source}, and that the runner can reach the database`
      )
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new RollbackError(
        `database host not found for ${where} (${e.code})`,
        `check the host name in ${settings.source}`
      )
    case '28P01':
    case '28000':
      return new RollbackError(
        `database refused the credentials for ${where} (${e.code}: authentication failed)`,
        `check the user and password in ${settings.source}`
      )
    case '3D000':
      return new RollbackError(
        `database does not exist: ${where} (3D000)`,
        `check the database name in ${settings.source}`
      )
    default:
      if (/timeout/i.test(raw)) {
        return new RollbackError(
          `database connection timed out: ${where}`,
          `check ${settings.source} and the network`
        )
      }
      return new RollbackError(`cannot connect to ${where}: ${raw}`, `check ${settings.source}`)
  }
}

/** Runs fn with a session and always closes it. */
export async function withClient<T>(
  settings: DbSettings,
  purpose: string,
  fn: (client: pg.Client) => Promise<T>
): Promise<T> {
  const client = await connect(settings, purpose)
  try {
    return await fn(client)
  } finally {
    await client.end().catch(() => {})
  }
}

/** Identifiers are quoted by the statement builder's one function. */
export { ident } from './statement-builder.js'

/** Splits "schema.name" (schema defaults to the search path: null). */
export function splitName(name: string): { schema: string | null; name: string } {
  const i = name.indexOf('.')
  return i < 0 ? { schema: null, name } : { schema: name.slice(0, i), name: name.slice(i + 1) }
}

export function pgErrorCode(err: unknown): string | undefined {
  return (err as { code?: unknown }).code === undefined
    ? undefined
    : String((err as { code: unknown }).code)
}

/**
 * The session ended under us: the server terminated it (57P01-57P03), a connection exception
 * (class 08), or the socket was cut (the pg client's own errors carry no SQLSTATE).
 */
export function connectionLost(err: unknown): boolean {
  const code = pgErrorCode(err) ?? ''
  if (/^08|^57P0[123]$|^ECONNRESET$|^EPIPE$/.test(code)) return true
  const message = (err as { message?: unknown }).message
  return typeof message === 'string' && /^Connection terminated|not queryable/i.test(message)
}

/** A server error as a RollbackError naming the runbook field, the SQLSTATE and the message. */
export function sqlError(err: unknown, field: string, statement?: string): RollbackError {
  if (err instanceof RollbackError) return err
  const e = err as { code?: string; message?: string; position?: string }
  const code = e.code ? ` (SQLSTATE ${e.code})` : ''
  const stmt = statement ? ` in "${statement.replace(/\s+/g, ' ').slice(0, 120)}"` : ''
  return new RollbackError(
    `${field}: SQL failed${code}${stmt}: ${e.message ?? String(err)}`,
    `fix ${field} in the runbook; steps are idempotent, so rerun once fixed`
  )
}

/**
 * Sends statements as one query string (the simple protocol, no parameters) and returns each
 * one's result. Used wherever a lock the app waits for is held between statements: sent one by
 * one, every statement would add a round trip (network plus scheduling) to every app query queued
 * behind the lock. On an error the server skips the rest of the string; an open transaction is
 * left aborted for the caller to roll back.
 */
export async function inOneRoundTrip(
  client: pg.Client,
  statements: string[]
): Promise<pg.QueryResult[]> {
  // The separator on a line of its own: a statement may end with a `--` comment.
  const res = (await client.query(statements.join('\n;\n'))) as unknown
  return Array.isArray(res) ? (res as pg.QueryResult[]) : [res as pg.QueryResult]
}

/** A statement that reads the server's clock (ms): placed between statements sent together, it times them. */
export const SERVER_CLOCK = 'SELECT extract(epoch FROM clock_timestamp()) * 1000 AS ms'

/** The server's clock reading in the result of a SERVER_CLOCK statement. */
export function serverClock(result: pg.QueryResult | undefined): number {
  return Number((result?.rows[0] as { ms?: unknown } | undefined)?.ms ?? 0)
}
