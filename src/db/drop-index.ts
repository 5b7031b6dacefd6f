/**
 * DROP INDEX CONCURRENTLY IF EXISTS, one index per statement, sent as its own query() on an
 * autocommit session (a multi-statement string is an implicit transaction: 25001), under the lock
 * ladder. Detects an INVALID leftover (a concurrent drop/create that was interrupted) and drops it;
 * detects an index backing a constraint (it cannot be dropped concurrently) and says so.
 */
import type pg from 'pg'
import { RollbackError } from '../util/errors.js'
import { ident } from './connection.js'
import {
  waitForClearRoad,
  clearRoadOptions,
  withLockLadder,
  type LadderAttempt,
  type LadderOptions
} from './lock-ladder.js'

export interface IndexInfo {
  schema: string
  name: string
  table: string
  valid: boolean
  definition: string
  sizeBytes: number
  /** Constraints that need this index (primary key / unique / exclusion, or FKs referencing it). */
  constraints: { name: string; type: string; table: string }[]
}

const CONTYPES: Record<string, string> = {
  p: 'primary key',
  u: 'unique',
  x: 'exclusion',
  f: 'foreign key'
}

/** Catalog look-up; undefined when the index does not exist. */
export async function inspectIndex(
  client: pg.Client,
  name: string
): Promise<IndexInfo | undefined> {
  const res = await client.query<{
    oid: number
    schema: string
    name: string
    table: string
    valid: boolean
    definition: string
    size: string
  }>(
    `SELECT c.oid, n.nspname AS schema, c.relname AS name,
            t.oid::regclass::text AS table, i.indisvalid AS valid,
            pg_get_indexdef(c.oid) AS definition, pg_relation_size(c.oid)::text AS size
       FROM pg_class c
       JOIN pg_index i ON i.indexrelid = c.oid
       JOIN pg_class t ON t.oid = i.indrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.oid = to_regclass($1) AND c.relkind IN ('i', 'I')`,
    [name]
  )
  const row = res.rows[0]
  if (!row) return undefined
  const cons = await client.query<{ name: string; type: string; table: string }>(
    `SELECT conname AS name, contype AS type, conrelid::regclass::text AS table
       FROM pg_constraint WHERE conindid = $1 ORDER BY conname`,
    [row.oid]
  )
  return {
    schema: row.schema,
    name: row.name,
    table: row.table,
    valid: row.valid,
    definition: row.definition,
    sizeBytes: Number(row.size),
    constraints: cons.rows.map(c => ({ ...c, type: CONTYPES[c.type] ?? c.type }))
  }
}

/** The statement that recreates the index without blocking writes. */
export function recreateStatement(info: IndexInfo): string {
  return `${info.definition.replace(/^CREATE (UNIQUE )?INDEX /, 'CREATE $1INDEX CONCURRENTLY IF NOT EXISTS ')};`
}

export function constraintError(info: IndexInfo, field: string): RollbackError {
  const list = info.constraints.map(c => `${c.type} constraint ${c.name} on ${c.table}`).join(', ')
  return new RollbackError(
    `${field}: index ${info.schema}.${info.name} backs ${list}; DROP INDEX CONCURRENTLY cannot drop it`,
    `drop the constraint instead (ALTER TABLE ... DROP CONSTRAINT, a sql step run under the lock ladder) or remove the index from ${field}`
  )
}

export interface DropIndexResult {
  dropped: boolean
  /** What was found before the drop (undefined: already gone). */
  before?: IndexInfo
  attempts: LadderAttempt[]
  statement: string
  /** Autovacuum workers on the table that were made to give way (pids). */
  yieldedAutovacuums: number[]
}

export async function dropIndexConcurrently(
  client: pg.Client,
  name: string,
  field: string,
  ladder: LadderOptions
): Promise<DropIndexResult> {
  const before = await inspectIndex(client, name)
  const qualified = before ? ident(`${before.schema}.${before.name}`) : ident(name)
  const statement = `DROP INDEX CONCURRENTLY IF EXISTS ${qualified}`
  if (!before) return { dropped: false, attempts: [], statement, yieldedAutovacuums: [] }
  if (before.constraints.length > 0) throw constraintError(before, field)
  if (!before.valid) {
    ladder.log?.(
      `${field}: ${before.name} is INVALID (left by an interrupted concurrent build or drop): dropping it`
    )
  }
  try {
    const yieldedAutovacuums: number[] = []
    const { attempts } = await withLockLadder(
      client,
      `${field} (${statement})`,
      wakeWhenClear(client, before.table, ladder, yieldedAutovacuums),
      () =>
        // Its own query(), never combined with other statements, never in a transaction.
        client.query(statement)
    )
    const after = await inspectIndex(client, name)
    if (after) {
      throw new RollbackError(
        `${field}: ${statement} returned but the index still exists (valid: ${after.valid})`,
        'rerun the step: DROP INDEX CONCURRENTLY IF EXISTS converges'
      )
    }
    return { dropped: true, before, attempts, statement, yieldedAutovacuums }
  } catch (err) {
    if (err instanceof RollbackError) {
      const after = await inspectIndex(client, name).catch(() => undefined)
      if (after && !after.valid) {
        // Keep the error's class (and its ladder attempts); add what was left behind.
        err.message = `${err.message}; ${after.schema}.${after.name} is left INVALID (not used by queries, still maintained on writes): a rerun drops it`
      }
    }
    throw err
  }
}

/**
 * The ladder, its sleeps cut short once no long transaction holds a lock on the table: the drop
 * waits for those (a long reader too) without blocking the app, so the next rung should start as
 * soon as they end, not up to a sleep later. Rungs and their bound stay the ladder's.
 */
function wakeWhenClear(
  client: pg.Client,
  table: string,
  ladder: LadderOptions,
  yielded: number[]
): LadderOptions {
  return {
    ...ladder,
    sleep: async ms => {
      const road = await waitForClearRoad(client, table, {
        ...clearRoadOptions(ladder),
        maxWaitMs: ms
      })
      yielded.push(...road.yieldedPids)
    }
  }
}
