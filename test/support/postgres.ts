/**
 * A throwaway PostgreSQL for tests, the demo and the benchmark.
 *
 * startThrowawayPostgres(): uses $DATABASE_URL when set; otherwise initdb + pg_ctl a cluster in a
 * fresh temp dir (trust auth on 127.0.0.1, a free port, the unix socket inside the temp dir,
 * fsync off). initdb/postgres refuse to run as root: as root the cluster runs as the `postgres`
 * system user (or `nobody`) via runuser, so the same call works for root and a normal user.
 *
 * createTestDatabase(baseUrl): CREATE DATABASE with a unique name, returns its URL, so each
 * test file is isolated.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync
} from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'

export interface ThrowawayPostgres {
  /** postgres://postgres@127.0.0.1:<port>/postgres (or $DATABASE_URL). */
  url: string
  /** Stops the cluster and removes its directory (no-op for $DATABASE_URL). */
  stop(): Promise<void>
}

export function postgresBinDir(): string {
  const candidates: string[] = []
  try {
    candidates.push(execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim())
  } catch {
    // pg_config not installed: look in the Debian/Ubuntu layout.
  }
  const debian = '/usr/lib/postgresql'
  if (existsSync(debian)) {
    const versions = readdirSync(debian)
      .filter(v => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a))
    candidates.push(...versions.map(v => join(debian, v, 'bin')))
  }
  const found = candidates.find(dir => existsSync(join(dir, 'initdb')))
  if (!found) {
    throw new Error(
      'PostgreSQL server binaries (initdb, pg_ctl) not found: install postgresql or set DATABASE_URL'
    )
  }
  return found
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

function unprivilegedUser(): { name: string; uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined
  for (const name of ['postgres', 'nobody']) {
    const res = spawnSync('id', ['-u', name], { encoding: 'utf8' })
    if (res.status !== 0) continue
    const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' })
    return { name, uid: Number(res.stdout.trim()), gid: Number(gid.stdout.trim()) }
  }
  throw new Error('running as root and neither the postgres nor the nobody user exists')
}

function runAs(user: { name: string } | undefined, bin: string, args: string[]): void {
  const [cmd, argv] = user ? ['runuser', ['-u', user.name, '--', bin, ...args]] : [bin, args]
  const res = spawnSync(cmd, argv, { encoding: 'utf8', cwd: tmpdir() })
  if (res.status !== 0) {
    throw new Error(`${bin} ${args.join(' ')} failed (${res.status}):\n${res.stdout}${res.stderr}`)
  }
}

export interface ThrowawayOptions {
  /** Serve TLS with a fresh self-signed certificate (always a cluster of its own). */
  tls?: boolean
  /** Server settings (-c name=value); given, always a cluster of its own. */
  settings?: Record<string, string>
}

export async function startThrowawayPostgres({
  tls = false,
  settings = {}
}: ThrowawayOptions = {}): Promise<ThrowawayPostgres> {
  const external = process.env.DATABASE_URL
  const ownCluster = tls || Object.keys(settings).length > 0
  if (external && !ownCluster) return { url: external, stop: async () => {} }

  const bin = postgresBinDir()
  const user = unprivilegedUser()
  const dir = mkdtempSync(join(tmpdir(), 'er-pg-'))
  chmodSync(dir, 0o755)
  if (user) chownSync(dir, user.uid, user.gid)
  const data = join(dir, 'data')
  runAs(user, join(bin, 'initdb'), [
    '-D',
    data,
    '-U',
    'postgres',
    '--auth=trust',
    '--no-sync',
    '-E',
    'UTF8',
    '--locale=C'
  ])
  if (tls) {
    // server.crt/server.key in the data directory are PostgreSQL's defaults for ssl=on.
    runAs(user, 'openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-keyout',
      join(data, 'server.key'),
      '-out',
      join(data, 'server.crt')
    ])
    chmodSync(join(data, 'server.key'), 0o600)
  }
  let lastError: unknown
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort()
    const options = [
      `-p ${port}`,
      '-h 127.0.0.1',
      `-k ${dir}`,
      '-c fsync=off',
      '-c synchronous_commit=off',
      '-c full_page_writes=off',
      '-c max_connections=100',
      ...(tls ? ['-c ssl=on'] : []),
      ...Object.entries(settings).map(([name, value]) => `-c ${name}=${value}`)
    ].join(' ')
    try {
      runAs(user, join(bin, 'pg_ctl'), [
        '-D',
        data,
        '-l',
        join(dir, 'postgres.log'),
        '-o',
        options,
        '-w',
        '-t',
        '60',
        'start'
      ])
    } catch (err) {
      lastError = err // port taken between probe and start: try another one
      continue
    }
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`
    let stopped = false
    return {
      url,
      async stop() {
        if (stopped) return
        stopped = true
        try {
          runAs(user, join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop'])
        } finally {
          rmSync(dir, { recursive: true, force: true })
        }
      }
    }
  }
  rmSync(dir, { recursive: true, force: true })
  throw lastError instanceof Error ? lastError : new Error('could not start PostgreSQL')
}

let counter = 0

/** CREATE DATABASE <unique> on the server of baseUrl; returns the new database's URL. */
export async function createTestDatabase(baseUrl: string, prefix = 'er_test'): Promise<string> {
  const name = `${prefix}_${process.pid}_${Date.now().toString(36)}_${counter++}`
  const client = new pg.Client({ connectionString: baseUrl })
  await client.connect()
  try {
    await client.query(`CREATE DATABASE "${name}"`)
  } finally {
    await client.end()
  }
  const url = new URL(baseUrl)
  url.pathname = `/${name}`
  return url.toString()
}

/** The URL tests use: the cluster global-setup started, else $DATABASE_URL. */
export function testDatabaseUrl(): string {
  const url = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL
  if (!url) throw new Error('TEST_DATABASE_URL is not set: is jest globalSetup configured?')
  return url
}

/** Path of the demo seed (outline_sessions with stuck sessions). */
export const SEED_SQL = fileURLToPath(
  new URL('../../examples/streaming-migration/seed.sql', import.meta.url)
)

/** Runs the seed (or any SQL file) against url. */
export async function loadSqlFile(url: string, file = SEED_SQL): Promise<void> {
  await withPg(url, client => client.query(readFileSync(file, 'utf8')))
}

/** A fresh database with the seed loaded: the usual start of a database test. */
export async function seededDatabase(baseUrl = testDatabaseUrl()): Promise<string> {
  const url = await createTestDatabase(baseUrl)
  await loadSqlFile(url)
  return url
}

/** Opens a client, runs fn, closes it. */
export async function withPg<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url })
  client.on('error', () => {})
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end().catch(() => {})
  }
}

/** One query's rows. */
export async function queryRows<R extends Record<string, unknown> = Record<string, unknown>>(
  url: string,
  sql: string,
  params: unknown[] = []
): Promise<R[]> {
  return withPg(url, async client => (await client.query<R>(sql, params)).rows)
}

/** A gate a slow step waits at: `SELECT wait_for_gate()` returns 1 once the test opens it. */
export interface StepGate {
  open(): Promise<void>
  close(): Promise<void>
}

/**
 * Installs the gate in `url` (open at first): a read-only check that waits, each loop a fresh
 * snapshot, until the test opens it, so a run's slow step lasts exactly as long as the test needs.
 */
export async function installStepGate(url: string): Promise<StepGate> {
  await withPg(url, c =>
    c.query(`CREATE TABLE gate (open boolean NOT NULL);
      INSERT INTO gate VALUES (true);
      CREATE FUNCTION wait_for_gate() RETURNS int LANGUAGE plpgsql AS $$
      BEGIN
        WHILE NOT (SELECT open FROM gate) LOOP PERFORM pg_sleep(0.05); END LOOP;
        RETURN 1;
      END $$;`)
  )
  const set = (open: boolean) =>
    withPg(url, async c => void (await c.query('UPDATE gate SET open = $1', [open])))
  return { open: () => set(true), close: () => set(false) }
}

/**
 * Runs fn while an app on its own session repeats `sql` against url, back to back; returns fn's
 * result and how long each of the app's statements took (ms): what the app waited for.
 */
export async function whileAppWrites<T>(
  url: string,
  sql: string,
  fn: () => Promise<T>
): Promise<{ result: T; waits: number[] }> {
  let done = false
  const waits: number[] = []
  const app = withPg(url, async c => {
    while (!done) {
      const started = Date.now()
      await c.query(sql)
      waits.push(Date.now() - started)
    }
  })
  try {
    return { result: await fn(), waits }
  } finally {
    done = true
    await app
  }
}
