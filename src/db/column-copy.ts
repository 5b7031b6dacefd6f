/**
 * The schema rollback's copy of the columns' data to the backup table, in key ranges sized and
 * paced by the adaptive batcher, inside the server.
 */
import type pg from 'pg'
import { RollbackError } from '../util/errors.js'
import { quoteLiteral, rangeEnd } from './batch-update.js'
import { initialState, limitsFor, nextState } from './adaptive-batcher.js'
import { ident, pgErrorCode, splitName } from './connection.js'
import { readLoadSignals } from './load-signals.js'
import { CAPTURED } from './write-capture.js'
import type { SchemaInspection, SchemaRollbackSpec } from './column-backup.js'

/**
 * Copy in key ranges of at most this many rows (the copy holds no row locks: the target duration
 * alone sizes them), starting at COPY_START_ROWS, pausing at least this long between them.
 */
export const COPY_BATCH_ROWS = 50_000
export const COPY_START_ROWS = 10_000
export const COPY_PAUSE_MS = 10

/**
 * Copies key + present columns into the backup table (created with a primary key on the key),
 * in key ranges sized and paced by the adaptive batcher (adaptive-batcher.ts): each range is one
 * INSERT ... SELECT inside the server (no rows in node) and an upsert, so a rerun after a crash
 * refreshes the backup.
 */
export async function copyColumns(
  client: pg.Client,
  spec: SchemaRollbackSpec,
  inspection: SchemaInspection,
  sleep: (ms: number) => Promise<void> = ms => new Promise(r => setTimeout(r, ms)),
  /** Runs once the backup table exists, before the first range is copied (installs the capture). */
  beforeCopy: () => Promise<void> = async () => {},
  now: () => number = Date.now
): Promise<number> {
  const k = ident(spec.key)
  const t = ident(spec.table)
  const b = ident(spec.backupTable)
  const cols = inspection.present.map(c => ident(c.name))
  const list = [k, ...cols].join(', ')
  const { schema } = splitName(spec.backupTable)
  if (schema) await client.query(`CREATE SCHEMA IF NOT EXISTS ${ident(schema)}`)
  if (!inspection.backupExists) {
    await client.query(`CREATE TABLE ${b} AS SELECT ${list} FROM ${t} WITH NO DATA`)
    await client.query(`ALTER TABLE ${b} ADD PRIMARY KEY (${k})`)
    await client.query(
      `COMMENT ON TABLE ${b} IS ${quoteLiteral(`emergency-rollback: data of ${spec.table} columns ${inspection.present.map(c => c.name).join(', ')} (key ${spec.key}) before they were dropped`)}`
    )
  } else {
    const missing = inspection.present.filter(c => !inspection.backupColumns.includes(c.name))
    if (missing.length > 0 || !inspection.backupColumns.includes(spec.key)) {
      throw new RollbackError(
        `backup table ${spec.backupTable} already exists without column(s) ${[...missing.map(c => c.name), ...(inspection.backupColumns.includes(spec.key) ? [] : [spec.key])].join(', ')}`,
        `it belongs to something else: set schema[].backup-table to a new name`
      )
    }
  }
  await client.query(
    `ALTER TABLE ${b} ADD COLUMN IF NOT EXISTS ${CAPTURED} boolean NOT NULL DEFAULT false`
  )
  await beforeCopy()
  // The copy's commits do not wait for their WAL flush: each range would otherwise queue an fsync
  // next to the app's own commits (the WAL pressure behind slow bursts). Safe: the columns are
  // dropped only by a later, synchronous commit, which flushes all WAL before it, the copy's too.
  await client.query('SET synchronous_commit = off')
  try {
    return await copyRanges(client, spec, inspection, sleep, now)
  } finally {
    await client.query('RESET synchronous_commit').catch(() => {})
  }
}

/**
 * The statements that copy one key range. A backup table this run created holds, ahead of the
 * copy, only rows the capture trigger wrote (newer than the copy's snapshot), usually none: the
 * range is a plain INSERT, which costs a fraction of an upsert (speculative insertion per row).
 * If a key of the range is already there (the trigger wrote it, before or during the statement),
 * that INSERT fails on the key (23505) and the range is copied again as an upsert. A backup
 * table from an earlier run may hold stale copies: always the upsert, which refreshes every row
 * the trigger did not write.
 */
function rangeCopy(spec: SchemaRollbackSpec, inspection: SchemaInspection) {
  const k = ident(spec.key)
  const t = ident(spec.table)
  const b = ident(spec.backupTable)
  const list = [k, ...inspection.present.map(c => ident(c.name))].join(', ')
  const updates = inspection.present.map(c => `${ident(c.name)} = EXCLUDED.${ident(c.name)}`)
  const range = (op: string, bounded: boolean) => `${k} ${op} $1${bounded ? ` AND ${k} <= $2` : ''}`
  const select = (op: string, bounded: boolean) =>
    `INSERT INTO ${b} AS dst (${list}) SELECT ${list} FROM ${t} WHERE ${range(op, bounded)}`
  return {
    fresh: select,
    // A row the capture trigger wrote is newer than this copy's snapshot of it: kept.
    upsert: (op: string, bounded: boolean) =>
      `${select(op, bounded)} ON CONFLICT (${k}) DO UPDATE SET ${updates.join(', ')} WHERE NOT dst.${CAPTURED}`
  }
}

async function copyRange(
  client: pg.Client,
  statements: ReturnType<typeof rangeCopy>,
  fresh: boolean,
  op: string,
  params: string[]
): Promise<number> {
  const bounded = params.length === 2
  if (fresh) {
    try {
      return (await client.query(statements.fresh(op, bounded), params)).rowCount ?? 0
    } catch (err) {
      if (pgErrorCode(err) !== '23505') throw err
    }
  }
  return (await client.query(statements.upsert(op, bounded), params)).rowCount ?? 0
}

async function copyRanges(
  client: pg.Client,
  spec: SchemaRollbackSpec,
  inspection: SchemaInspection,
  sleep: (ms: number) => Promise<void>,
  now: () => number
): Promise<number> {
  const k = ident(spec.key)
  const t = ident(spec.table)
  const statements = rangeCopy(spec, inspection)
  const fresh = !inspection.backupExists
  const limits = limitsFor(COPY_BATCH_ROWS, COPY_PAUSE_MS)
  let batcher = initialState(limits, COPY_START_ROWS)
  const minRes = await client.query<{ k: string | null }>(`SELECT min(${k})::text AS k FROM ${t}`)
  let from = minRes.rows[0]?.k ?? null
  let first = true
  let copied = 0
  while (from !== null) {
    const op = first ? '>=' : '>'
    const upper = await rangeEnd(client, t, k, from, first, batcher.size)
    const batchStarted = now()
    copied += await copyRange(
      client,
      statements,
      fresh,
      op,
      upper === null ? [from] : [from, upper]
    )
    if (upper === null) break
    from = upper
    first = false
    const signals = await readLoadSignals(client, now() - batchStarted, now)
    batcher = nextState(batcher, signals, limits)
    await sleep(batcher.pauseMs)
  }
  return copied
}
