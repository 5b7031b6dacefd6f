/**
 * A big UPDATE done safely: walk the primary key in ranges of at most `batch-size` rows (keyset,
 * so sparse ids cost nothing), each batch its own short transaction that re-checks the condition,
 * locks the rows it changes in key order (FOR UPDATE; waits bounded by the lock ladder), updates
 * them and records their OLD values in a backup table, all in one statement. The size of each
 * batch and the pause after it come from the adaptive batcher (adaptive-batcher.ts: a target batch
 * duration, backing off when other backends wait for locks or the database slows), a cap on the
 * total time. A crash loses at most the batch in flight (rolled back whole); a rerun converges
 * because the condition no longer matches rows already changed. Nothing is loaded into memory.
 */
import type pg from 'pg'
import { RollbackError } from '../util/errors.js'
import {
  initialState,
  limitsFor,
  nextState,
  type BatcherLimits,
  type BatcherState
} from './adaptive-batcher.js'
import { connectionLost, splitName } from './connection.js'
import { readLoadSignals } from './load-signals.js'
import { withLockLadder, type LadderOptions } from './lock-ladder.js'
import {
  buildStatement,
  ident,
  parseExpression,
  placeholder,
  type ExprNode
} from './statement-builder.js'

export const BACKUP_SCHEMA = 'rollback_backup'
export const CHANGED_AT = '_rollback_changed_at'

export interface BatchUpdateSpec {
  table: string
  key: string
  set: Record<string, string>
  where: string
  batchSize: number
  pauseMs: number
  maxDurationMs: number
}

export interface BatchUpdateOptions {
  /** Qualified backup table name (see backupTableName). */
  backupTable: string
  ladder: LadderOptions
  /** Field name for messages, e.g. database.steps[1].batch-update. */
  field: string
  /** Called after each committed batch (tests simulate crashes here). */
  onBatch?: (batch: BatchRecord) => Promise<void>
  /** Passes over the table while rows still match (rows can become eligible during the run). */
  maxPasses?: number
  now?: () => number
}

export interface BatchRecord {
  pass: number
  batch: number
  from: string
  to: string | null
  rows: number
  ms: number
  lockAttempts: number
  /** The batch size the adaptive batcher chose (rows of the table, matching or not). */
  size: number
}

export interface BatchUpdateResult {
  rowsChanged: number
  batches: number
  passes: number
  durationMs: number
  slowestBatchMs: number
  lockRetries: number
  remaining: number
  /** Time spent counting the rows still matching after each pass. */
  countMs: number
  timeCapped: boolean
  backupTable: string
  restoreSql: string
}

/** rollback_backup.<table>_<runId>, sanitised, ≤ 63 bytes. */
export function backupTableName(table: string, runId: string, suffix = ''): string {
  const base = splitName(table).name
  const run = runId.toLowerCase().replace(/[^a-z0-9_]+/g, '_')
  let name = `${base}${suffix}_${run}`
  if (name.length > 63)
    name = `${base.slice(0, 30)}${suffix}_${run.slice(-(62 - 30 - suffix.length))}`
  return `${BACKUP_SCHEMA}.${name.slice(0, 63)}`
}

/** The runbook's expressions, each parsed alone (see statement-builder.ts). */
export interface ParsedBatchSpec {
  where: ExprNode
  /** In the order of Object.keys(spec.set). */
  set: ExprNode[]
}

/** Each expression must parse alone as exactly one expression: nothing smuggled in. */
export async function validateBatchSpec(
  spec: BatchUpdateSpec,
  field: string
): Promise<ParsedBatchSpec> {
  if (spec.key in spec.set) {
    throw new RollbackError(
      `${field}.set.${spec.key}: the key column cannot be written (rows are found and restored by it)`,
      `remove ${spec.key} from ${field}.set`
    )
  }
  const where = await parseExpression(spec.where, `${field}.where`)
  const set: ExprNode[] = []
  for (const [column, expr] of Object.entries(spec.set)) {
    set.push(await parseExpression(expr, `${field}.set.${column}`))
  }
  return { where, set }
}

/** Every statement a batch-update sends that holds a runbook expression, built from trees. */
export interface BatchStatements {
  /** The batch: [first][bounded] (first: key >= $1, else key > $1; bounded: AND key <= $2). */
  batch: Record<'first' | 'next', Record<'bounded' | 'open', string>>
  /** Matching rows in a key range, same indexing. */
  count: Record<'first' | 'next', Record<'bounded' | 'open', string>>
  /** EXPLAIN of the condition over the whole table (the planner's estimate). */
  estimate: string
}

const WHERE = placeholder(0)
const setPlaceholder = (i: number) => placeholder(i + 1)

function batchTemplate(
  spec: BatchUpdateSpec,
  backupTable: string,
  first: boolean,
  bounded: boolean
) {
  const t = ident(spec.table)
  const k = ident(spec.key)
  const columns = Object.keys(spec.set)
  const oldCols = columns.map((c, i) => `${ident(c)} AS __old_${i}`).join(', ')
  const setList = columns.map((c, i) => `${ident(c)} = ${setPlaceholder(i)}`).join(', ')
  const backupCols = [k, ...columns.map(c => ident(c))].join(', ')
  const selectOld = ['__k', ...columns.map((_, i) => `__old_${i}`)].join(', ')
  return `WITH src AS (
       SELECT ${k} AS __k, ${oldCols} FROM ${t}
        WHERE ${range(k, first, bounded)} AND ${WHERE}
        ORDER BY ${k}
        FOR UPDATE
     ), changed AS (
       UPDATE ${t} SET ${setList} FROM src
        WHERE ${t}.${k} = src.__k AND ${WHERE}
        RETURNING src.*
     )
     INSERT INTO ${ident(backupTable)} (${backupCols}) SELECT ${selectOld} FROM changed`
}

function range(k: string, first: boolean, bounded: boolean): string {
  return `${k} ${first ? '>=' : '>'} $1${bounded ? ` AND ${k} <= $2` : ''}`
}

function countTemplate(spec: BatchUpdateSpec, first: boolean, bounded: boolean): string {
  const k = ident(spec.key)
  return `SELECT count(*)::text AS n FROM ${ident(spec.table)} WHERE ${range(k, first, bounded)} AND ${WHERE}`
}

async function variants(
  build: (first: boolean, bounded: boolean) => Promise<string>
): Promise<BatchStatements['batch']> {
  return {
    first: { bounded: await build(true, true), open: await build(true, false) },
    next: { bounded: await build(false, true), open: await build(false, false) }
  }
}

/** Builds every statement of a batch-update (validates the expressions first). */
export async function batchStatements(
  spec: BatchUpdateSpec,
  backupTable: string,
  field: string
): Promise<BatchStatements> {
  const parsed = await validateBatchSpec(spec, field)
  const exprs = [parsed.where, ...parsed.set]
  const where = [parsed.where]
  return {
    batch: await variants((f, b) =>
      buildStatement(batchTemplate(spec, backupTable, f, b), exprs, field)
    ),
    count: await variants((f, b) => buildStatement(countTemplate(spec, f, b), where, field)),
    estimate: await buildStatement(
      `EXPLAIN (FORMAT JSON) SELECT 1 FROM ${ident(spec.table)} WHERE ${WHERE}`,
      where,
      field
    )
  }
}

/** The variant for a range starting at (first) or after its lower key, open-ended or not. */
function variant(table: BatchStatements['batch'], first: boolean, upper: string | null): string {
  return table[first ? 'first' : 'next'][upper === null ? 'open' : 'bounded']
}

function sqlParts(spec: BatchUpdateSpec, backupTable: string) {
  const t = ident(spec.table)
  const k = ident(spec.key)
  const columns = Object.keys(spec.set)
  const backupCols = [k, ...columns.map(c => ident(c))].join(', ')
  const restore =
    `UPDATE ${t} AS t SET ${columns.map(c => `${ident(c)} = b.${ident(c)}`).join(', ')}\n` +
    `  FROM ${ident(backupTable)} AS b WHERE t.${k} = b.${k};`
  return { t, k, backupCols, restore }
}

export async function ensureBackupTable(
  client: pg.Client,
  spec: BatchUpdateSpec,
  backupTable: string
): Promise<void> {
  const { t, backupCols } = sqlParts(spec, backupTable)
  const { schema } = splitName(backupTable)
  if (schema) await client.query(`CREATE SCHEMA IF NOT EXISTS ${ident(schema)}`)
  await client.query(
    `CREATE TABLE IF NOT EXISTS ${ident(backupTable)} AS SELECT ${backupCols} FROM ${t} WITH NO DATA`
  )
  await client.query(
    `ALTER TABLE ${ident(backupTable)} ADD COLUMN IF NOT EXISTS ${CHANGED_AT} timestamptz NOT NULL DEFAULT now()`
  )
  const note = `emergency-rollback: old values of ${spec.table} rows changed by a batch-update (key ${spec.key}); restore: ${sqlParts(spec, backupTable).restore}`
  await client.query(`COMMENT ON TABLE ${ident(backupTable)} IS ${quoteLiteral(note)}`)
}

export function quoteLiteral(s: string): string {
  return `'${s.replace(/'/g, "''")}'`
}

export function restoreSql(spec: BatchUpdateSpec, backupTable: string): string {
  return sqlParts(spec, backupTable).restore
}

async function nextUpper(
  client: pg.Client,
  spec: BatchUpdateSpec,
  from: string,
  first: boolean,
  size: number
): Promise<string | null> {
  const { t, k } = sqlParts(spec, 'x')
  return rangeEnd(client, t, k, from, first, size)
}

/**
 * Rows matching the condition, counted in key ranges (COUNT_BATCH_ROWS) with the runbook's pause
 * between them: one big count(*) would be a full scan competing with the app at once. After a pass the
 * ranges are its own batches' bounds (every COUNT_GROUP-th upper key), so no range has to be
 * looked up first (that lookup walks the key index as far as the count itself).
 */
export const COUNT_BATCH_ROWS = 50_000
export const COUNT_GROUP = 10

export async function countMatching(
  client: pg.Client,
  spec: BatchUpdateSpec,
  statements: BatchStatements,
  sleep: (ms: number) => Promise<void> = ms => new Promise(r => setTimeout(r, ms)),
  /** Upper keys of the ranges, ascending (the last range is open-ended); else looked up. */
  uppers?: string[]
): Promise<number> {
  const t = ident(spec.table)
  const k = ident(spec.key)
  const minRes = await client.query<{ k: string | null }>(`SELECT min(${k})::text AS k FROM ${t}`)
  let from = minRes.rows[0]?.k ?? null
  let first = true
  let total = 0
  const next = uppers ? [...uppers] : undefined
  while (from !== null) {
    const upper = next
      ? (next.shift() ?? null)
      : await rangeEnd(client, t, k, from, first, COUNT_BATCH_ROWS)
    const res = await client.query<{ n: string }>(
      variant(statements.count, first, upper),
      upper === null ? [from] : [from, upper]
    )
    total += Number(res.rows[0]?.n ?? 0)
    if (upper === null) break
    from = upper
    first = false
    await sleep(spec.pauseMs)
  }
  return total
}

/** The key `rows` rows on from `from` (quoted table and key), or null past the end. */
export async function rangeEnd(
  client: pg.Client,
  t: string,
  k: string,
  from: string,
  first: boolean,
  rows: number
): Promise<string | null> {
  const res = await client.query<{ k: string }>(
    `SELECT ${k}::text AS k FROM ${t} WHERE ${k} ${first ? '>=' : '>'} $1 ORDER BY ${k} OFFSET $2 LIMIT 1`,
    [from, rows - 1]
  )
  return res.rows[0]?.k ?? null
}

/** Every COUNT_GROUP-th upper key of a pass's batches (the last batch's is null: open-ended). */
function passUppers(batches: BatchRecord[], pass: number): string[] {
  const uppers = batches.filter(b => b.pass === pass && b.to !== null).map(b => b.to!)
  return uppers.filter((_, i) => (i + 1) % COUNT_GROUP === 0)
}

/** The planner's estimate of matching rows (no scan): for preflight. */
export async function estimateMatching(
  client: pg.Client,
  statements: BatchStatements
): Promise<number> {
  const res = await client.query<{ 'QUERY PLAN': { Plan: { 'Plan Rows': number } }[] }>(
    statements.estimate
  )
  return Math.round(res.rows[0]?.['QUERY PLAN'][0]?.Plan['Plan Rows'] ?? 0)
}

/**
 * One pass over the key range. Returns false when the time cap stopped it.
 * `client` must be an autocommit session (each batch is one statement = one transaction).
 */
async function pass(
  client: pg.Client,
  spec: BatchUpdateSpec,
  options: BatchUpdateOptions,
  state: PassState,
  statements: BatchStatements,
  oneBatchOnly = false
): Promise<boolean> {
  const { k, t } = sqlParts(spec, options.backupTable)
  const minRes = await client.query<{ k: string | null }>(`SELECT min(${k})::text AS k FROM ${t}`)
  let from = minRes.rows[0]?.k ?? null
  let first = true
  while (from !== null) {
    if (state.now() - state.started > spec.maxDurationMs) return false
    const upper = await nextUpper(client, spec, from, first, state.batcher.size)
    const started = state.now()
    const { value, attempts } = await withLockLadder(
      client,
      `${options.field} batch ${from}..${upper ?? 'end'}`,
      options.ladder,
      () =>
        client.query(
          variant(statements.batch, first, upper),
          upper !== null ? [from, upper] : [from]
        )
    )
    const record: BatchRecord = {
      pass: state.pass,
      batch: state.batches.length + 1,
      from,
      to: upper,
      rows: value.rowCount ?? 0,
      ms: state.now() - started,
      lockAttempts: attempts.length,
      size: state.batcher.size
    }
    state.batches.push(record)
    await options.onBatch?.(record)
    if (upper === null || oneBatchOnly) break
    from = upper
    first = false
    // Next size and pause from what this batch did to the app (see adaptive-batcher.ts).
    const signals = await readLoadSignals(client, record.ms, state.now)
    state.batcher = nextState(state.batcher, signals, state.limits)
    if (state.batcher.backedOff) options.ladder.log?.(backOffNote(options.field, state.batcher))
    await options.ladder.sleep(state.batcher.pauseMs)
  }
  return true
}

interface PassState {
  pass: number
  batches: BatchRecord[]
  started: number
  now: () => number
  limits: BatcherLimits
  batcher: BatcherState
}

function backOffNote(field: string, s: BatcherState): string {
  return `${field}: backing off (${s.backedOff}): next batch ${s.size} rows after ${Math.round(s.pauseMs)} ms`
}

export async function runBatchUpdate(
  client: pg.Client,
  spec: BatchUpdateSpec,
  options: BatchUpdateOptions
): Promise<BatchUpdateResult> {
  const now = options.now ?? Date.now
  const statements = await batchStatements(spec, options.backupTable, options.field)
  await ensureBackupTable(client, spec, options.backupTable)
  const limits = limitsFor(spec.batchSize, spec.pauseMs)
  const state: PassState = {
    pass: 0,
    batches: [],
    started: now(),
    now,
    limits,
    batcher: initialState(limits)
  }
  try {
    return await passes(client, spec, options, state, statements)
  } catch (err) {
    throw new BatchUpdateStopped(err, spec, options, state)
  }
}

async function passes(
  client: pg.Client,
  spec: BatchUpdateSpec,
  options: BatchUpdateOptions,
  state: PassState,
  statements: BatchStatements
): Promise<BatchUpdateResult> {
  let remaining = 0
  let countMs = 0
  let timeCapped = false
  const maxPasses = options.maxPasses ?? 2
  for (let p = 1; p <= maxPasses; p++) {
    state.pass = p
    if (!(await pass(client, spec, options, state, statements))) {
      timeCapped = true
      break
    }
    const counted = state.now()
    remaining = await countMatching(
      client,
      spec,
      statements,
      options.ladder.sleep,
      passUppers(state.batches, p)
    )
    countMs += state.now() - counted
    if (remaining === 0) break
    options.ladder.log?.(
      `${options.field}: ${remaining} rows still match after pass ${p} (they changed during the run)`
    )
  }
  if (timeCapped) remaining = await countMatching(client, spec, statements, options.ladder.sleep)
  return {
    rowsChanged: rowsChanged(state),
    batches: state.batches.length,
    passes: state.pass,
    durationMs: state.now() - state.started,
    slowestBatchMs: Math.max(0, ...state.batches.map(b => b.ms)),
    lockRetries: state.batches.reduce((n, b) => n + b.lockAttempts - 1, 0),
    remaining,
    countMs,
    timeCapped,
    backupTable: options.backupTable,
    restoreSql: restoreSql(spec, options.backupTable)
  }
}

const rowsChanged = (state: PassState) => state.batches.reduce((n, b) => n + b.rows, 0)

/**
 * A batch-update that stopped part way (the connection lost, a lock never granted, a server
 * error): what the committed batches changed and where their old values are, so the report
 * keeps them. Each batch is one statement, so none is half done.
 */
export class BatchUpdateStopped extends RollbackError {
  /** The error to report: the cause, or a plain sentence when the connection was lost. */
  readonly reason: unknown
  readonly rowsChanged: number
  readonly batches: number
  readonly backupTable: string
  readonly restoreSql: string

  constructor(
    cause: unknown,
    spec: BatchUpdateSpec,
    options: BatchUpdateOptions,
    state: PassState
  ) {
    const rows = rowsChanged(state)
    const done =
      rows > 0
        ? `${rows} rows reset so far, their old values in ${options.backupTable}`
        : 'no row reset yet'
    const reason = connectionLost(cause)
      ? new RollbackError(
          `${options.field}: the connection to the database was lost after ${state.batches.length} batches (${done}); each batch is one transaction, so none is half done`,
          'rerun: rows already reset no longer match the condition, so the rerun continues where this one stopped'
        )
      : cause
    super(reason instanceof Error ? reason.message : String(reason))
    this.reason = reason
    this.rowsChanged = rows
    this.batches = state.batches.length
    this.backupTable = options.backupTable
    this.restoreSql = restoreSql(spec, options.backupTable)
  }
}

export interface BatchDrillResult {
  eligibleRows: number
  firstBatchRows: number
  firstBatchMs: number
  estimatedBatches: number
  estimatedMs: number
}

/**
 * Drill: the first batch inside a transaction that is rolled back (rows stay locked for one
 * batch only, never for the whole table), plus a count of eligible rows and a time estimate.
 */
export async function drillBatchUpdate(
  client: pg.Client,
  spec: BatchUpdateSpec,
  options: BatchUpdateOptions
): Promise<BatchDrillResult> {
  const now = options.now ?? Date.now
  const statements = await batchStatements(spec, options.backupTable, options.field)
  const eligibleRows = await countMatching(client, spec, statements, options.ladder.sleep)
  const totalRes = await client.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM ${ident(spec.table)}`
  )
  const totalRows = Number(totalRes.rows[0]?.n ?? 0)
  const limits = limitsFor(spec.batchSize, spec.pauseMs)
  const state: PassState = {
    pass: 1,
    batches: [],
    started: now(),
    now,
    limits,
    batcher: initialState(limits)
  }
  await client.query('BEGIN')
  try {
    await ensureBackupTable(client, spec, options.backupTable)
    await pass(client, spec, { ...options, onBatch: undefined }, state, statements, true)
  } finally {
    await client.query('ROLLBACK')
  }
  const first = state.batches[0]
  const estimatedBatches = Math.max(1, Math.ceil(totalRows / spec.batchSize))
  const firstMs = first?.ms ?? 0
  return {
    eligibleRows,
    firstBatchRows: first?.rows ?? 0,
    firstBatchMs: firstMs,
    estimatedBatches,
    estimatedMs: estimatedBatches * (firstMs + spec.pauseMs)
  }
}
