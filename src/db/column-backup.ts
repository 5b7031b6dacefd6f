/**
 * Schema rollback that loses nothing: copy the columns' data (key + columns) to a backup table,
 * then drop all the columns in ONE `ALTER TABLE ... DROP COLUMN IF EXISTS a, DROP COLUMN IF
 * EXISTS b` under the lock ladder. Indexes that use the columns are dropped CONCURRENTLY first.
 * Inside the ALTER's transaction (after LOCK TABLE under the ladder) rows inserted since the copy
 * are added to the backup, so nothing written before the drop is lost.
 * Idempotent: a rerun refreshes the backup (upsert by key) while the columns still exist, and
 * does nothing once they are gone. The copy is column-copy.ts; the drill, column-backup-drill.ts.
 */
import type pg from 'pg'
import { RollbackError } from '../util/errors.js'
import { ident, inOneRoundTrip, SERVER_CLOCK, serverClock, splitName } from './connection.js'
import { copyColumns } from './column-copy.js'
import { autovacuumGuardSql } from './autovacuum-yield.js'
import {
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
  withLockLadder,
  type LadderAttempt,
  type LadderOptions
} from './lock-ladder.js'
import { conflictingModes } from './lock-modes.js'

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

export function captureSpec(spec: SchemaRollbackSpec, inspection: SchemaInspection): CaptureSpec {
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
  const road = afterLongTransactions(client, capture.table, ladder, {
    conflicting: conflictingModes('SHARE ROW EXCLUSIVE')
  })
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
