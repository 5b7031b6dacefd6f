/**
 * Schema rollback that loses nothing: copy the columns' data (key + columns) to a backup table,
 * then drop all the columns in ONE `ALTER TABLE ... DROP COLUMN IF EXISTS a, DROP COLUMN IF
 * EXISTS b` under the lock ladder. Indexes that use the columns are dropped CONCURRENTLY first.
 * Inside the ALTER's transaction (after LOCK TABLE under the ladder) rows inserted since the copy
 * are added to the backup, so nothing written before the drop is lost.
 * Idempotent: a rerun refreshes the backup (upsert by key) while the columns still exist, and
 * does nothing once they are gone.
 */
import type pg from 'pg'
import { RollbackError } from '../util/errors.js'
import { quoteLiteral, rangeEnd } from './batch-update.js'
import { initialState, limitsFor, nextState } from './adaptive-batcher.js'
import {
  ident,
  inOneRoundTrip,
  pgErrorCode,
  SERVER_CLOCK,
  serverClock,
  splitName
} from './connection.js'
import { readLoadSignals } from './load-signals.js'
import { askAutovacuumToYield, autovacuumGuardSql } from './autovacuum-yield.js'
import {
  CAPTURED,
  captureInstalled,
  installCaptureSql,
  removeCaptureSql,
  removeStraySql,
  strayCaptures,
  type CaptureSpec,
  type StrayCapture
} from './write-capture.js'
import {
  dropIndexConcurrently,
  inspectIndex,
  recreateStatement,
  type IndexInfo
} from './drop-index.js'
import {
  afterLongTransactions,
  CLEAR_ROAD_MAX_MS,
  clearRoadOptions,
  conflictingModes,
  waitForClearRoad,
  withLockLadder,
  type LadderAttempt,
  type LadderOptions
} from './lock-ladder.js'

export interface ColumnInfo {
  name: string
  type: string
  notNull: boolean
  default: string | null
}

export interface SchemaRollbackSpec {
  table: string
  key: string
  dropColumns: string[]
  dropIndexes: string[]
  backupTable: string
}

export interface SchemaInspection {
  tableExists: boolean
  keyExists: boolean
  present: ColumnInfo[]
  gone: string[]
  /** Listed indexes that still exist. */
  indexes: IndexInfo[]
  /** Other indexes that use a column being dropped (dropped concurrently first). */
  dependentIndexes: IndexInfo[]
  backupExists: boolean
  backupColumns: string[]
  rows: number
}

export async function columnsOf(client: pg.Client, table: string): Promise<ColumnInfo[]> {
  const res = await client.query<ColumnInfo & { notnull: boolean }>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
            a.attnotnull AS notnull, pg_get_expr(d.adbin, d.adrelid) AS default
       FROM pg_attribute a
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [table]
  )
  return res.rows.map(r => ({ name: r.name, type: r.type, notNull: r.notnull, default: r.default }))
}

export async function inspectSchema(
  client: pg.Client,
  spec: SchemaRollbackSpec
): Promise<SchemaInspection> {
  const exists = await client.query<{ ok: boolean }>('SELECT to_regclass($1) IS NOT NULL AS ok', [
    spec.table
  ])
  const tableExists = exists.rows[0]?.ok ?? false
  const cols = tableExists ? await columnsOf(client, spec.table) : []
  const present = cols.filter(c => spec.dropColumns.includes(c.name))
  const gone = spec.dropColumns.filter(c => !cols.some(x => x.name === c))
  const indexes: IndexInfo[] = []
  for (const name of spec.dropIndexes) {
    const info = await inspectIndex(client, qualifyLike(spec.table, name))
    if (info) indexes.push(info)
  }
  const dependentIndexes: IndexInfo[] = []
  if (present.length > 0) {
    const dep = await client.query<{ name: string }>(
      `SELECT DISTINCT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name
         FROM pg_depend d
         JOIN pg_class c ON c.oid = d.objid AND c.relkind IN ('i', 'I')
         JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
        WHERE d.classid = 'pg_class'::regclass AND d.refobjid = to_regclass($1)
          AND a.attname = ANY($2)`,
      [spec.table, present.map(c => c.name)]
    )
    for (const row of dep.rows) {
      const info = await inspectIndex(client, row.name)
      if (info && !indexes.some(i => i.schema === info.schema && i.name === info.name)) {
        dependentIndexes.push(info)
      }
    }
  }
  const backupCols = await columnsOf(client, spec.backupTable)
  let rows = 0
  if (tableExists) {
    const est = await client.query<{ n: string }>(
      `SELECT greatest(reltuples, 0)::bigint::text AS n FROM pg_class WHERE oid = to_regclass($1)`,
      [spec.table]
    )
    rows = Number(est.rows[0]?.n ?? 0)
  }
  return {
    tableExists,
    keyExists: cols.some(c => c.name === spec.key),
    present,
    gone,
    indexes,
    dependentIndexes,
    backupExists: backupCols.length > 0,
    backupColumns: backupCols.map(c => c.name),
    rows
  }
}

/** An unqualified index name lives in the table's schema. */
function qualifyLike(table: string, index: string): string {
  const { schema } = splitName(table)
  return index.includes('.') || !schema ? index : `${schema}.${index}`
}

export function alterStatement(spec: SchemaRollbackSpec): string {
  return `ALTER TABLE ${ident(spec.table)} ${spec.dropColumns.map(c => `DROP COLUMN IF EXISTS ${ident(c)}`).join(', ')}`
}

/** SQL that puts the columns and their data back (types and defaults as they were). */
export function restoreColumnsSql(
  spec: SchemaRollbackSpec,
  columns: ColumnInfo[],
  indexes: IndexInfo[]
): string[] {
  if (columns.length === 0) return []
  const t = ident(spec.table)
  const adds = columns
    .map(
      c =>
        `ADD COLUMN IF NOT EXISTS ${ident(c.name)} ${c.type}${c.default ? ` DEFAULT ${c.default}` : ''}`
    )
    .join(', ')
  const sets = columns.map(c => `${ident(c.name)} = b.${ident(c.name)}`).join(', ')
  const out = [
    `ALTER TABLE ${t} ${adds};`,
    `UPDATE ${t} AS t SET ${sets} FROM ${ident(spec.backupTable)} AS b WHERE t.${ident(spec.key)} = b.${ident(spec.key)};  -- on a big table: in batches of ${ident(spec.key)} ranges`
  ]
  for (const c of columns.filter(c => c.notNull)) {
    out.push(`ALTER TABLE ${t} ALTER COLUMN ${ident(c.name)} SET NOT NULL;`)
  }
  out.push(...indexes.map(recreateStatement))
  return out
}

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

function captureSpec(spec: SchemaRollbackSpec, inspection: SchemaInspection): CaptureSpec {
  return {
    table: spec.table,
    key: spec.key,
    columns: inspection.present.map(c => c.name),
    backupTable: spec.backupTable
  }
}

/**
 * Installs the capture trigger in its own short transaction, under the lock ladder, each attempt
 * once no long transaction holds a lock that conflicts with CREATE TRIGGER's (autovacuum's, after
 * the batch-update's dead rows, does; a long reader's does not).
 */
async function installCapture(
  client: pg.Client,
  capture: CaptureSpec,
  what: string,
  ladder: LadderOptions
): Promise<number[]> {
  const road = afterLongTransactions(
    client,
    capture.table,
    ladder,
    conflictingModes('SHARE ROW EXCLUSIVE')
  )
  await withLockLadder(client, what, road.ladder, async () => {
    await client.query('BEGIN')
    try {
      const installed = await captureInstalled(client, capture)
      // CREATE TRIGGER's lock holds the app's writes until COMMIT: no round trip in between.
      await inOneRoundTrip(client, [
        autovacuumGuardSql(capture.table),
        ...installCaptureSql(capture, installed),
        'COMMIT'
      ])
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {})
      throw err
    }
  })
  return road.yieldedPids()
}

export interface SchemaRollbackResult {
  copiedRows: number
  newRowsUnderLock: number
  /** Capture triggers other runs left on the table, removed with the columns. */
  removedCaptures: string[]
  /** Autovacuum workers on the table that were made to give way (pids). */
  yieldedAutovacuums: number[]
  droppedColumns: string[]
  droppedIndexes: string[]
  alreadyGone: string[]
  attempts: LadderAttempt[]
  timings: Record<string, number>
  restore: string[]
}

export async function runSchemaRollback(
  client: pg.Client,
  spec: SchemaRollbackSpec,
  field: string,
  ladder: LadderOptions
): Promise<SchemaRollbackResult> {
  const timings: Record<string, number> = {}
  const time = async <T>(label: string, fn: () => Promise<T>): Promise<T> => {
    const started = Date.now()
    try {
      return await fn()
    } finally {
      timings[label] = Date.now() - started
    }
  }
  const inspection = await inspectSchema(client, spec)
  if (!inspection.tableExists) {
    throw new RollbackError(`${field}.table: ${spec.table} does not exist`, `fix ${field}.table`)
  }
  const restore = restoreColumnsSql(spec, inspection.present, [
    ...inspection.indexes,
    ...inspection.dependentIndexes
  ])
  // 1. Indexes first (listed ones, then any other index using a column we drop), concurrently.
  const droppedIndexes: string[] = []
  const yieldedAutovacuums: number[] = []
  let attempts: LadderAttempt[] = []
  for (const info of [...inspection.indexes, ...inspection.dependentIndexes]) {
    const name = `${info.schema}.${info.name}`
    const res = await time(`drop index ${name}`, () =>
      dropIndexConcurrently(client, name, `${field}.drop-indexes`, ladder)
    )
    attempts = attempts.concat(res.attempts)
    yieldedAutovacuums.push(...res.yieldedAutovacuums)
    if (res.dropped) droppedIndexes.push(name)
  }
  if (inspection.present.length === 0) {
    return {
      copiedRows: 0,
      newRowsUnderLock: 0,
      removedCaptures: [],
      yieldedAutovacuums,
      droppedColumns: [],
      droppedIndexes,
      alreadyGone: inspection.gone,
      attempts,
      timings,
      restore
    }
  }
  if (!inspection.keyExists) {
    throw new RollbackError(
      `${field}.key: ${spec.table} has no column ${spec.key}`,
      `fix ${field}.key`
    )
  }
  // 2. Copy the data out (committed before anything is dropped).
  const copiedRows = await time('copy to backup', () =>
    copyColumns(client, spec, inspection, ladder.sleep, async () => {
      const pids = await installCapture(
        client,
        captureSpec(spec, inspection),
        `${field} (capture writes during the copy)`,
        ladder
      )
      yieldedAutovacuums.push(...pids)
    })
  )
  const maxRes = await client.query<{ k: string | null }>(
    `SELECT max(${ident(spec.key)})::text AS k FROM ${ident(spec.backupTable)}`
  )
  const maxKey = maxRes.rows[0]?.k ?? null
  // 3. One ALTER TABLE for all columns, with the rows inserted since the copy added under the lock.
  let newRowsUnderLock = 0
  const capture = captureSpec(spec, inspection)
  const strays = await strayCaptures(client, capture)
  const clearRoad = afterLongTransactions(client, spec.table, ladder)
  const ladderResult = await time('drop columns', () =>
    withLockLadder(client, `${field} (${alterStatement(spec)})`, clearRoad.ladder, async () => {
      try {
        const dropped = await lockAndDrop(client, spec, inspection, capture, maxKey, strays)
        newRowsUnderLock = dropped.newRows
        // What the app's queries on the table waited for, at most (measured by the server).
        timings['table locked'] = dropped.lockedMs
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {})
        throw err
      }
    })
  )
  attempts = attempts.concat(ladderResult.attempts)
  timings['waited for long transactions (not queued)'] = clearRoad.waitedMs()
  yieldedAutovacuums.push(...clearRoad.yieldedPids())
  return {
    copiedRows,
    newRowsUnderLock,
    removedCaptures: strays.map(s => s.trigger),
    yieldedAutovacuums,
    droppedColumns: inspection.present.map(c => c.name),
    droppedIndexes,
    alreadyGone: inspection.gone,
    attempts,
    timings,
    restore
  }
}

/**
 * The transaction that drops the columns, in one round trip: from LOCK TABLE to COMMIT the app's
 * queries on the table queue. On an error the caller rolls back. Returns how many rows inserted
 * since the copy were added to the backup, and how long the table was locked.
 */
async function lockAndDrop(
  client: pg.Client,
  spec: SchemaRollbackSpec,
  inspection: SchemaInspection,
  capture: CaptureSpec,
  maxKey: string | null,
  strays: StrayCapture[]
): Promise<{ newRows: number; lockedMs: number }> {
  const t = ident(spec.table)
  const cols = [spec.key, ...inspection.present.map(c => c.name)].map(ident).join(', ')
  // A query string with several statements cannot carry parameters: the key is a literal.
  const after = maxKey === null ? '' : `WHERE ${ident(spec.key)} > ${client.escapeLiteral(maxKey)}`
  const results = await inOneRoundTrip(client, [
    'BEGIN',
    autovacuumGuardSql(spec.table),
    `LOCK TABLE ${t} IN ACCESS EXCLUSIVE MODE`,
    SERVER_CLOCK,
    `INSERT INTO ${ident(spec.backupTable)} (${cols}) SELECT ${cols} FROM ${t} ${after} ON CONFLICT DO NOTHING`,
    ...removeCaptureSql(capture),
    ...removeStraySql(spec.table, strays),
    alterStatement(spec),
    SERVER_CLOCK,
    'COMMIT'
  ])
  const clocks = results.filter(r => r.command === 'SELECT')
  return {
    newRows: results.find(r => r.command === 'INSERT')?.rowCount ?? 0,
    lockedMs: Math.round(serverClock(clocks[1]) - serverClock(clocks[0]))
  }
}

export interface SchemaDrillResult {
  copiedRows: number
  /** Capture triggers other runs left on the table, which a run would remove with the columns. */
  strayCaptures: string[]
  /** Autovacuum workers on the table that were made to give way (pids). */
  yieldedAutovacuums: number[]
  timings: Record<string, number>
  indexesChecked: string[]
  wouldDrop: string[]
  alreadyGone: string[]
}

/** Drill: copy + lock + ALTER in one transaction that is rolled back; indexes checked in the catalog. */
export async function drillSchemaRollback(
  client: pg.Client,
  spec: SchemaRollbackSpec,
  field: string,
  ladder: LadderOptions
): Promise<SchemaDrillResult> {
  const inspection = await inspectSchema(client, spec)
  if (!inspection.tableExists) {
    throw new RollbackError(`${field}.table: ${spec.table} does not exist`, `fix ${field}.table`)
  }
  const timings: Record<string, number> = {}
  const indexesChecked: string[] = []
  for (const info of [...inspection.indexes, ...inspection.dependentIndexes]) {
    if (info.constraints.length > 0) {
      throw new RollbackError(
        `${field}.drop-indexes: ${info.name} backs constraint ${info.constraints.map(c => c.name).join(', ')}: cannot be dropped concurrently`
      )
    }
    indexesChecked.push(
      `${info.schema}.${info.name}${info.valid ? '' : ' (INVALID)'}: DROP INDEX CONCURRENTLY runs outside a transaction, not in the drill; catalog check OK`
    )
  }
  let copiedRows = 0
  let strays: StrayCapture[] = []
  let yieldedAutovacuums: number[] = []
  if (inspection.present.length > 0) {
    await client.query('BEGIN')
    try {
      const started = Date.now()
      copiedRows = await copyColumns(client, spec, inspection, ladder.sleep)
      timings['copy to backup'] = Date.now() - started
      // The capture trigger is installed after the copy here: in this transaction it would hold
      // its lock (blocking the app's writes) for the whole copy. Installed and removed, as in a
      // run, then the lock and the drop, all in one round trip up to the ROLLBACK (the locks are
      // held from the trigger on). In a transaction a lock timeout aborts it: one rung only.
      const capture = captureSpec(spec, inspection)
      const installed = await captureInstalled(client, capture)
      strays = await strayCaptures(client, capture)
      // As in a run, nothing queues for the locks below while a long transaction or autovacuum
      // holds the table: the one rung would time out with the app's writes queued behind it.
      const road = await waitForClearRoad(client, spec.table, {
        ...clearRoadOptions(ladder),
        inTransaction: true
      })
      timings['waited for long transactions (not queued)'] = road.waitedMs
      yieldedAutovacuums = road.yieldedPids
      // Held to the ROLLBACK, it keeps autovacuum from starting on the table before our locks
      // (and makes one that started since the road was checked give way).
      if (road.yieldedPids.length === 0)
        await askAutovacuumToYield(client, spec.table, CLEAR_ROAD_MAX_MS, true)
      const results = await inOneRoundTrip(client, [
        `SET LOCAL lock_timeout = ${Math.round(ladder.lockTimeoutMs)}`,
        SERVER_CLOCK,
        ...installCaptureSql(capture, installed),
        ...removeCaptureSql(capture),
        ...removeStraySql(spec.table, strays),
        `LOCK TABLE ${ident(spec.table)} IN ACCESS EXCLUSIVE MODE`,
        SERVER_CLOCK,
        alterStatement(spec),
        SERVER_CLOCK,
        'ROLLBACK'
      ])
      const [asked, locked, dropped] = results.filter(r => r.command === 'SELECT').map(serverClock)
      timings['lock wait'] = Math.round(locked! - asked!)
      timings['drop columns'] = Math.round(dropped! - locked!)
    } finally {
      await client.query('ROLLBACK')
    }
  }
  return {
    copiedRows,
    strayCaptures: strays.map(s => s.trigger),
    yieldedAutovacuums,
    timings,
    indexesChecked,
    wouldDrop: inspection.present.map(c => c.name),
    alreadyGone: inspection.gone
  }
}
