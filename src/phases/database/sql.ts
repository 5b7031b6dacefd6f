/**
 * sql steps: statements split and classified by the PostgreSQL parser; unsafe ones are refused,
 * and statements that destroy data without a backup need `acknowledge-data-loss: true`.
 */
import type pg from 'pg'
import type { StepResult } from '../../model.js'
import type { DatabaseStep } from '../../runbook/schema.js'
import { ident, inOneRoundTrip, pgErrorCode, sqlError } from '../../db/connection.js'
import { constraintError, inspectIndex } from '../../db/drop-index.js'
import {
  afterLongTransactions,
  clearRoadOptions,
  waitForClearRoads,
  withLockLadder,
  type LadderAttempt,
  type LadderOptions
} from '../../db/lock-ladder.js'
import { conflictingModes } from '../../db/lock-modes.js'
import { failedResult } from '../../db/phase-support.js'
import {
  classifySql,
  describeStatement,
  type ClassifiedStatement
} from '../../db/sql-classifier.js'
import { RollbackError } from '../../util/errors.js'
import type { StepHandler, StepInput } from './handler.js'

const oneLine = (sql: string, max = 100) => sql.replace(/\s+/g, ' ').slice(0, max)

/** Parses and classifies a step's SQL; refused statements and unacknowledged data loss throw. */
export async function classifyOrThrow(
  sql: string,
  field: string,
  acknowledged = false
): Promise<ClassifiedStatement[]> {
  let stmts: ClassifiedStatement[]
  try {
    stmts = await classifySql(sql)
  } catch (err) {
    const e = err instanceof RollbackError ? err : new RollbackError(String(err))
    throw new RollbackError(`${field}: ${e.message}`, e.hint)
  }
  if (stmts.length === 0) throw new RollbackError(`${field} has no SQL statement`, `fix ${field}`)
  const bad = stmts.find(s => s.rejected)
  if (bad) {
    throw new RollbackError(
      `${field}: refusing "${oneLine(bad.sql)}": ${bad.rejected}`,
      `change ${field}`
    )
  }
  const destructive = stmts.find(s => s.destroysData)
  if (destructive && !acknowledged) {
    const step = field.replace(/\.sql$/, '')
    throw new RollbackError(
      `${field}: "${oneLine(destructive.sql)}" ${destructive.destroysData} and ${step}.acknowledge-data-loss is not true`,
      `if the data may go, add acknowledge-data-loss: true to ${step}; otherwise keep the data first (a schema step backs columns up)`
    )
  }
  return stmts
}

/** The plan line of a statement; destroyed data is said in capitals so no approver misses it. */
function describe(s: ClassifiedStatement): string {
  const line = describeStatement(s)
  return s.destroysData ? `${line} — DATA LOSS (acknowledged): ${s.destroysData}` : line
}

function summary(s: ClassifiedStatement) {
  return {
    sql: s.sql,
    kind: s.label,
    lock: s.lock,
    transactional: s.transactional,
    lockLadder: s.needsLadder,
    destroysData: s.destroysData,
    warnings: s.warnings
  }
}

const acknowledged = (step: DatabaseStep) => step['acknowledge-data-loss'] === true

const DML_CHECKED_BY_EXPLAIN = ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'MERGE', 'CREATE TABLE AS']

async function checkStatement(client: pg.Client, stmt: ClassifiedStatement, field: string) {
  if (DML_CHECKED_BY_EXPLAIN.includes(stmt.label)) {
    try {
      await client.query(`EXPLAIN ${stmt.sql}`)
    } catch (err) {
      throw sqlError(err, `${field}.sql`, stmt.sql)
    }
  }
  if (stmt.label === 'DROP INDEX CONCURRENTLY') {
    const info = await inspectIndex(client, stmt.targets[0] ?? '')
    if (info && info.constraints.length > 0) throw constraintError(info, `${field}.sql`)
  }
}

interface Timing {
  sql: string
  ms: number
  rows: number | null
  lockAttempts?: LadderAttempt[]
  yieldedAutovacuums?: number[]
}

async function runStatement(
  client: pg.Client,
  stmt: ClassifiedStatement,
  field: string,
  ladder: LadderOptions
): Promise<Timing> {
  const started = Date.now()
  if (!stmt.needsLadder) {
    const value = await client.query(stmt.sql)
    return { sql: stmt.sql, ms: Date.now() - started, rows: value.rowCount }
  }
  // As the schema step does: no rung queues (with the app behind it) while a long transaction or
  // autovacuum holds a lock ours conflicts with; autovacuum is made to give way.
  const road = afterLongTransactions(client, relationNames(stmt), ladder, {
    conflicting: roadModes(stmt),
    olderSnapshots: stmt.waitsForOlderSnapshots
  })
  const { value, attempts } = await withLockLadder(client, `${field}.sql`, road.ladder, () =>
    client.query(stmt.sql)
  )
  const yielded = road.yieldedPids()
  return {
    sql: stmt.sql,
    ms: Date.now() - started,
    rows: value.rowCount,
    lockAttempts: attempts,
    ...(yielded.length > 0 ? { yieldedAutovacuums: yielded } : {})
  }
}

/**
 * The relations whose lock holders the statement queues behind (a trigger's table; an index is
 * resolved to its table by the road), as quoted names for to_regclass (the parser gives them
 * unquoted, case kept). A name that is not a plain relation name (a function's) is left out: it
 * resolves to no table, and its statement gets the ladder alone.
 */
function relationNames(stmt: ClassifiedStatement): string[] {
  return (stmt.lockedRelations ?? stmt.targets)
    .filter(t => {
      const parts = t.split('.')
      return parts.length <= 2 && parts.every(p => p !== '')
    })
    .map(ident)
}

/**
 * The pg_locks modes the statement waits behind: those that conflict with its lock, or any lock
 * for a CONCURRENTLY index statement, which waits for every transaction on the table before it
 * finishes (ended by a rung's lock_timeout, it would leave an INVALID index).
 */
function roadModes(stmt: ClassifiedStatement): string[] | undefined {
  return stmt.waitsForEveryTransaction ? undefined : conflictingModes(stmt.lock)
}

function ranLine(t: Timing, stmt?: ClassifiedStatement): string {
  const rows = t.rows !== null ? ` (${t.rows} rows)` : ''
  const loss = stmt?.destroysData ? ` — data destroyed without a backup (acknowledged)` : ''
  const gaveWay = t.yieldedAutovacuums
    ? ` (autovacuum, pid ${t.yieldedAutovacuums.join(', ')}, was made to give way first)`
    : ''
  return `ran: ${oneLine(t.sql)}${rows}${gaveWay}${loss}`
}

async function run({ client, step, field, settings, ladder }: StepInput): Promise<StepResult> {
  const stmts = await classifyOrThrow(step.sql ?? '', `${field}.sql`, acknowledged(step))
  const timings: Timing[] = []
  for (const stmt of stmts) {
    try {
      timings.push(await runStatement(client, stmt, field, ladder))
    } catch (err) {
      const e = err instanceof RollbackError ? err : sqlError(err, `${field}.sql`, stmt.sql)
      if (stmt.waitsForEveryTransaction) await sayInvalidLeftovers(client, stmt, e)
      return failedResult(e, `${field}.sql`, settings, {
        changed: timings.map((t, i) => ranLine(t, stmts[i])),
        details: { statements: timings }
      })
    }
  }
  return {
    status: 'succeeded',
    changed: timings.map((t, i) => ranLine(t, stmts[i])),
    details: { statements: timings }
  }
}

/**
 * A CONCURRENTLY index statement that fails part way leaves an INVALID index: added to the
 * error, with what to do about it (a rerun of CREATE INDEX CONCURRENTLY IF NOT EXISTS would
 * take the INVALID index for the built one).
 */
async function sayInvalidLeftovers(client: pg.Client, stmt: ClassifiedStatement, e: Error) {
  const res = await client
    .query<{ name: string }>(
      `SELECT i.indexrelid::regclass::text AS name FROM pg_index i
        WHERE NOT i.indisvalid AND i.indrelid IN (
          SELECT coalesce((SELECT indrelid FROM pg_index WHERE indexrelid = to_regclass(n)),
                          to_regclass(n))
            FROM unnest($1::text[]) n)
        ORDER BY 1`,
      [relationNames(stmt)]
    )
    .catch(() => undefined)
  const names = res?.rows.map(r => r.name) ?? []
  if (names.length === 0) return
  e.message = `${e.message}; left INVALID: ${names.join(', ')} (not used by queries, still maintained on writes): drop it with DROP INDEX CONCURRENTLY IF EXISTS before a rerun builds it again, since CREATE INDEX CONCURRENTLY IF NOT EXISTS skips an INVALID index`
}

/** Longest a drill lets one statement hold its locks in production. */
const DRILL_STATEMENT_MS = 10_000

interface DrillLine {
  sql: string
  ms?: number
  rows?: number | null
  drill: string
}

/** A statement that cannot run in the drill's transaction: explained, checked in the catalog. */
async function explainOutside(client: pg.Client, stmt: ClassifiedStatement, field: string) {
  let check = 'cannot run inside a transaction: not run in the drill'
  if (stmt.label === 'DROP INDEX CONCURRENTLY') {
    const info = await inspectIndex(client, stmt.targets[0] ?? '')
    if (info && info.constraints.length > 0) throw constraintError(info, `${field}.sql`)
    check = `${check}; catalog: ${info ? `index exists (valid: ${info.valid})` : 'index already gone'}`
  }
  return { sql: stmt.sql, drill: check }
}

/** A notice between the drilled statements: which one starts now, by the server's clock. */
const MARK = 'emergency-rollback drill statement'
const markSql = (i: number) =>
  `DO $mark$ BEGIN RAISE NOTICE '${MARK} % %', ${i}, extract(epoch FROM clock_timestamp()) * 1000; END $mark$`
const MARK_PATTERN = new RegExp(`^${MARK} (\\d+) ([\\d.]+)$`)

/** Leading statements of the drill's query string, before the first mark. */
function drillHeader(lockTimeoutMs: number): string[] {
  return [
    'BEGIN',
    `SET LOCAL lock_timeout = ${Math.round(lockTimeoutMs)}`,
    // A drill must not hold production locks for long: whatever takes longer is stopped and
    // reported (the real run would hold those locks just as long).
    `SET LOCAL statement_timeout = ${DRILL_STATEMENT_MS}`,
    'SET LOCAL client_min_messages = notice'
  ]
}

/**
 * Runs the transactional statements in one transaction that is rolled back, sent as ONE query
 * string: a lock one statement takes is held while the next ones run, and sent one by one every
 * round trip would be added to the time the app waits for it (the drill runs in production).
 * Marks between the statements (notices, which arrive even when a later statement fails) time
 * each one and say which one was running when the server stopped.
 */
async function drillTogether(
  client: pg.Client,
  stmts: ClassifiedStatement[],
  field: string,
  lockTimeoutMs: number
): Promise<{ lines: DrillLine[]; stopped: boolean }> {
  const marks: { server: number; client: number }[] = []
  const onNotice = (notice: { message?: string }) => {
    const match = MARK_PATTERN.exec(notice.message ?? '')
    if (match) marks[Number(match[1])] = { server: Number(match[2]), client: Date.now() }
  }
  const header = drillHeader(lockTimeoutMs)
  const parts = [...header, ...stmts.flatMap((stmt, i) => [markSql(i), stmt.sql])]
  parts.push(markSql(stmts.length), 'ROLLBACK')
  // Without both marks (a proxy that drops notices), the statement has no time, not a wrong one.
  const serverMs = (i: number) => {
    const [from, to] = [marks[i], marks[i + 1]]
    return from && to ? Math.round(to.server - from.server) : undefined
  }
  const ran = 'ran in a transaction, rolled back'
  client.on('notice', onNotice)
  try {
    const results = await inOneRoundTrip(client, parts)
    const rows = (i: number) => results[header.length + 2 * i + 1]?.rowCount ?? null
    return {
      lines: stmts.map((stmt, i) => ({
        sql: stmt.sql,
        ms: serverMs(i),
        rows: rows(i),
        drill: ran
      })),
      stopped: false
    }
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    const failed = marks.length - 1
    const stmt = stmts[failed]
    if (!stmt || pgErrorCode(err) !== '57014') throw sqlError(err, `${field}.sql`, stmt?.sql)
    const before = stmts
      .slice(0, failed)
      .map((s, i) => ({ sql: s.sql, ms: serverMs(i), drill: ran }))
    const drill = `stopped after ${DRILL_STATEMENT_MS / 1000} s: a run would hold its locks at least that long; consider batch-update`
    const ms = Date.now() - marks[failed]!.client
    return { lines: [...before, { sql: stmt.sql, ms, drill }], stopped: true }
  } finally {
    client.off('notice', onNotice)
  }
}

/**
 * Waits, without queueing, until no long transaction holds a lock on the tables the statements
 * lock that theirs would queue behind; autovacuum is made to give way. Returns the workers that
 * did. (The drill's transaction is one query string: this runs before it.)
 */
async function clearRoads(
  client: pg.Client,
  stmts: ClassifiedStatement[],
  ladder: LadderOptions
): Promise<number[]> {
  const yielded: number[] = []
  for (const stmt of stmts.filter(s => s.needsLadder)) {
    const road = await waitForClearRoads(client, relationNames(stmt), {
      ...clearRoadOptions(ladder),
      conflicting: roadModes(stmt)
    })
    yielded.push(...road.yieldedPids)
  }
  return yielded
}

async function drill({ client, step, field, settings, ladder }: StepInput): Promise<StepResult> {
  const stmts = await classifyOrThrow(step.sql ?? '', `${field}.sql`, acknowledged(step))
  const outside = new Map<ClassifiedStatement, DrillLine>()
  for (const stmt of stmts.filter(s => !s.transactional)) {
    outside.set(stmt, await explainOutside(client, stmt, field))
  }
  const inside = stmts.filter(s => s.transactional)
  const yielded = await clearRoads(client, inside, ladder)
  const { lines, stopped } =
    inside.length > 0
      ? await drillTogether(client, inside, field, settings.lockTimeoutMs)
      : { lines: [], stopped: false }
  // In the runbook's order; after a stopped statement, the ones that did not run are left out.
  const ranLines = new Map(inside.map((stmt, i) => [stmt, lines[i]]))
  const report: DrillLine[] = []
  for (const stmt of stmts) {
    const line = outside.get(stmt) ?? ranLines.get(stmt)
    if (!line) break
    report.push(line)
  }
  return {
    status: stopped ? 'warned' : 'succeeded',
    changed: [],
    details: {
      statements: report,
      ...(yielded.length > 0 ? { yieldedAutovacuums: yielded } : {})
    }
  }
}

export const sqlStep: StepHandler = {
  plan(_runbook, step) {
    const lines = (step.sql ?? '')
      .split(/;\s*\n/)
      .map(s => s.trim())
      .filter(Boolean)
      .map(
        s => `${oneLine(s, 10_000)} — lock level classified by the PostgreSQL parser at preflight`
      )
    if (acknowledged(step)) {
      lines.push(
        'DATA LOSS acknowledged: statements of this step may destroy data without a backup'
      )
    }
    return lines
  },

  async validate(step, field) {
    const stmts = await classifyOrThrow(step.sql ?? '', `${field}.sql`, acknowledged(step))
    return { changes: stmts.map(describe), details: { statements: stmts.map(summary) } }
  },

  async inspect({ client, step, field }) {
    const stmts = await classifyOrThrow(step.sql ?? '', `${field}.sql`, acknowledged(step))
    for (const stmt of stmts) await checkStatement(client, stmt, field)
    return undefined
  },

  run,
  drill
}
