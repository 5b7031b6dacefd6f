/**
 * sql steps: statements split and classified by the PostgreSQL parser; unsafe ones are refused,
 * and statements that destroy data without a backup need `acknowledge-data-loss: true`.
 */
import type pg from 'pg'
import type { StepResult } from '../../model.js'
import type { DatabaseStep } from '../../runbook/schema.js'
import { sqlError } from '../../db/connection.js'
import { constraintError, inspectIndex } from '../../db/drop-index.js'
import { withLockLadder, type LadderAttempt, type LadderOptions } from '../../db/lock-ladder.js'
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
  const { value, attempts } = await withLockLadder(client, `${field}.sql`, ladder, () =>
    client.query(stmt.sql)
  )
  return { sql: stmt.sql, ms: Date.now() - started, rows: value.rowCount, lockAttempts: attempts }
}

function ranLine(t: Timing, stmt?: ClassifiedStatement): string {
  const rows = t.rows !== null ? ` (${t.rows} rows)` : ''
  const loss = stmt?.destroysData ? ` — data destroyed without a backup (acknowledged)` : ''
  return `ran: ${oneLine(t.sql)}${rows}${loss}`
}

async function run({ client, step, field, settings, ladder }: StepInput): Promise<StepResult> {
  const stmts = await classifyOrThrow(step.sql ?? '', `${field}.sql`, acknowledged(step))
  const timings: Timing[] = []
  for (const stmt of stmts) {
    try {
      timings.push(await runStatement(client, stmt, field, ladder))
    } catch (err) {
      const e = err instanceof RollbackError ? err : sqlError(err, `${field}.sql`, stmt.sql)
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

/** Runs one statement inside the drill's transaction; undefined `ms` cap reached = stopped. */
async function drillStatement(
  client: pg.Client,
  stmt: ClassifiedStatement,
  field: string
): Promise<{ line: DrillLine; stopped: boolean }> {
  const started = Date.now()
  try {
    const res = await client.query(stmt.sql)
    const drill = 'ran in a transaction, rolled back'
    return {
      line: { sql: stmt.sql, ms: Date.now() - started, rows: res.rowCount, drill },
      stopped: false
    }
  } catch (err) {
    if ((err as { code?: string }).code !== '57014') throw sqlError(err, `${field}.sql`, stmt.sql)
    const drill = `stopped after ${DRILL_STATEMENT_MS / 1000} s: a run would hold its locks at least that long; consider batch-update`
    return { line: { sql: stmt.sql, ms: Date.now() - started, drill }, stopped: true }
  }
}

async function drill({ client, step, field, settings }: StepInput): Promise<StepResult> {
  const stmts = await classifyOrThrow(step.sql ?? '', `${field}.sql`, acknowledged(step))
  const report: DrillLine[] = []
  let stoppedEarly = false
  await client.query('BEGIN')
  try {
    await client.query(`SET LOCAL lock_timeout = ${Math.round(settings.lockTimeoutMs)}`)
    // A drill must not hold production locks for long: whatever takes longer is stopped and
    // reported (the real run would hold those locks just as long).
    await client.query(`SET LOCAL statement_timeout = ${DRILL_STATEMENT_MS}`)
    for (const stmt of stmts) {
      if (!stmt.transactional) {
        report.push(await explainOutside(client, stmt, field))
        continue
      }
      const { line, stopped } = await drillStatement(client, stmt, field)
      report.push(line)
      if ((stoppedEarly = stopped)) break
    }
  } finally {
    await client.query('ROLLBACK').catch(() => {})
  }
  return {
    status: stoppedEarly ? 'warned' : 'succeeded',
    changed: [],
    details: { statements: report }
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
