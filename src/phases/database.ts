/**
 * database phase: the seed's "Database Cleanup", done without causing the next outage.
 * Steps come from runbook.database.steps, each one of:
 *  - drop-index: DROP INDEX CONCURRENTLY IF EXISTS, alone, under the lock ladder;
 *  - batch-update: a big UPDATE in primary-key batches, old values kept in a backup table;
 *  - sql: statements split and classified by the PostgreSQL parser; unsafe ones are refused.
 * Every mutating step holds the run's advisory lock (one runner per database) while it works.
 */
import type pg from 'pg'
import type { Dependencies } from '../dependencies.js'
import {
  RollbackError,
  type PhaseModule,
  type PreflightNote,
  type Step,
  type StepResult
} from '../model.js'
import type { DatabaseStep, Runbook } from '../runbook/schema.js'
import { parseDuration } from '../util/duration.js'
import { checkRunLockFree, withRunLock } from '../db/advisory-lock.js'
import {
  backupTableName,
  estimateMatching,
  drillBatchUpdate,
  runBatchUpdate,
  validateBatchSpec,
  type BatchUpdateSpec
} from '../db/batch-update.js'
import { columnsOf } from '../db/column-backup.js'
import { sqlError, withClient, type DbSettings } from '../db/connection.js'
import {
  constraintError,
  dropIndexConcurrently,
  inspectIndex,
  recreateStatement
} from '../db/drop-index.js'
import { withLockLadder, type LadderAttempt } from '../db/lock-ladder.js'
import {
  failedResult,
  ladderOptions,
  ladderText,
  preflightSession,
  slug
} from '../db/phase-support.js'
import { classifySql, describeStatement, type ClassifiedStatement } from '../db/sql-classifier.js'
import { preloadSqlParser } from '../db/pg-parser.js'

export interface DatabaseAction {
  index: number
  field: string
  step: DatabaseStep
}

function specOf(step: DatabaseStep): BatchUpdateSpec | undefined {
  const b = step['batch-update']
  if (!b) return undefined
  return {
    table: b.table,
    key: b.key,
    set: b.set,
    where: b.where,
    batchSize: b['batch-size'],
    pauseMs: parseDuration(b.pause),
    maxDurationMs: parseDuration(b['max-duration'])
  }
}

function plannedChanges(runbook: Runbook, step: DatabaseStep, runId: string): string[] {
  const db = runbook.database!
  const ladder = `lock_timeout ≤ ${db['lock-timeout']}, ${db['lock-retries']} retries`
  if (step['drop-index']) {
    return [
      `DROP INDEX CONCURRENTLY IF EXISTS ${step['drop-index']} — SHARE UPDATE EXCLUSIVE on its table (reads and writes continue); alone, outside any transaction; ${ladder}`
    ]
  }
  const b = step['batch-update']
  if (b) {
    const set = Object.entries(b.set)
      .map(([c, e]) => `${c} = ${e}`)
      .join(', ')
    return [
      `UPDATE ${b.table} SET ${set} WHERE ${b.where} — in batches of ${b['batch-size']} ${b.key}s (one short transaction each, condition re-checked), ROW EXCLUSIVE + row locks of one batch at a time; ${b.pause} pause; at most ${b['max-duration']}`,
      `old values of changed rows kept in ${backupTableName(b.table, runId)}`
    ]
  }
  return (step.sql ?? '')
    .split(/;\s*\n/)
    .map(s => s.trim())
    .filter(Boolean)
    .map(
      s => `${s.replace(/\s+/g, ' ')} — lock level classified by the PostgreSQL parser at preflight`
    )
}

type DatabaseDeps = Pick<Dependencies, 'database' | 'log' | 'clock' | 'run'>

export const databasePhase: PhaseModule<DatabaseAction, keyof DatabaseDeps> = {
  phase: 'database',
  needs: ['database', 'log', 'clock', 'run'],
  preflightShares: 'database',
  plan(runbook, request) {
    const steps = runbook.database?.steps ?? []
    return steps.map((step, index) => ({
      id: `database:${index + 1}-${slug(step.name)}`,
      phase: 'database' as const,
      title: step.name,
      changes: plannedChanges(runbook, step, request.runId),
      mutates: true,
      stage: 'main' as const,
      action: { index, field: `database.steps[${index}]`, step }
    }))
  },

  warmUp(steps) {
    // sql and batch-update steps are parsed at preflight.
    if (steps.some(s => s.action.step.sql !== undefined || specOf(s.action.step))) {
      preloadSqlParser()
    }
  },

  async preflight(steps, deps) {
    const notes: PreflightNote[] = []
    // Parse and classify everything first: refuse unsafe SQL before touching anything.
    const classified = new Map<string, ClassifiedStatement[]>()
    for (const s of steps) {
      const { step, field } = s.action
      if (step.sql !== undefined) {
        const stmts = await classifyOrThrow(step.sql, `${field}.sql`)
        classified.set(s.id, stmts)
        notes.push({
          stepId: s.id,
          changes: stmts.map(describeStatement),
          details: { statements: stmts.map(summary) }
        })
      }
      const spec = specOf(step)
      if (spec) await validateBatchSpec(spec, `${field}.batch-update`)
    }
    const session = await preflightSession(deps.database.settings, {
      planning: deps.run.request.command === 'plan',
      log: deps.log,
      phase: 'database'
    })
    if (!session) return { notes }
    const { client, settings } = session
    try {
      await checkRunLockFree(client)
      for (const s of steps) {
        const note = await checkStep(client, s, classified.get(s.id), settings)
        if (note) {
          const existing = notes.find(n => n.stepId === s.id)
          if (existing) existing.details = { ...existing.details, ...note.details }
          else notes.push(note)
        }
      }
    } finally {
      await client.end().catch(() => {})
    }
    return { notes }
  },

  async run(step, deps) {
    return execute(step, deps, false)
  },

  async drill(step, deps) {
    return execute(step, deps, true)
  }
}

function summary(s: ClassifiedStatement) {
  return {
    sql: s.sql,
    kind: s.label,
    lock: s.lock,
    transactional: s.transactional,
    lockLadder: s.needsLadder,
    warnings: s.warnings
  }
}

export async function classifyOrThrow(sql: string, field: string): Promise<ClassifiedStatement[]> {
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
      `${field}: refusing "${bad.sql.replace(/\s+/g, ' ').slice(0, 100)}": ${bad.rejected}`,
      `change ${field}`
    )
  }
  return stmts
}

async function checkStep(
  client: pg.Client,
  s: Step<DatabaseAction>,
  stmts: ClassifiedStatement[] | undefined,
  settings: DbSettings
): Promise<PreflightNote | undefined> {
  const { step, field } = s.action
  if (step['drop-index']) {
    const info = await inspectIndex(client, step['drop-index'])
    if (!info) {
      return {
        stepId: s.id,
        changes: [`index ${step['drop-index']} is already gone: nothing to do`],
        details: { index: 'absent' }
      }
    }
    if (info.constraints.length > 0) throw constraintError(info, `${field}.drop-index`)
    return {
      stepId: s.id,
      details: {
        index: {
          table: info.table,
          valid: info.valid,
          sizeBytes: info.sizeBytes,
          definition: info.definition,
          note: info.valid
            ? undefined
            : 'INVALID leftover of an interrupted concurrent operation: will be dropped'
        },
        ladder: ladderText(settings)
      }
    }
  }
  const spec = specOf(step)
  if (spec) {
    const f = `${field}.batch-update`
    const cols = await columnsOf(client, spec.table)
    if (cols.length === 0)
      throw new RollbackError(`${f}.table: ${spec.table} does not exist`, `fix ${f}.table`)
    for (const c of [spec.key, ...Object.keys(spec.set)]) {
      if (!cols.some(x => x.name === c)) {
        throw new RollbackError(`${f}: ${spec.table} has no column ${c}`, `fix ${f}`)
      }
    }
    let eligible: number
    try {
      eligible = await estimateMatching(client, spec)
    } catch (err) {
      throw sqlError(err, `${f}.where`)
    }
    return { stepId: s.id, details: { eligibleRowsEstimate: eligible } }
  }
  // sql: names and plans checked without running anything.
  for (const stmt of stmts ?? []) {
    if (['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'MERGE', 'CREATE TABLE AS'].includes(stmt.label)) {
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
  return undefined
}

async function execute(
  step: Step<DatabaseAction>,
  deps: DatabaseDeps,
  drill: boolean
): Promise<StepResult> {
  const { field } = step.action
  let settings: DbSettings | undefined
  try {
    settings = deps.database.settings()
    const s = settings
    return await withRunLock(s, 'database', () =>
      withClient(s, 'database', client =>
        drill ? drillStep(client, step, deps, s) : runStep(client, step, deps, s)
      )
    )
  } catch (err) {
    return failedResult(err, field, settings)
  }
}

async function runStep(
  client: pg.Client,
  s: Step<DatabaseAction>,
  deps: DatabaseDeps,
  settings: DbSettings
): Promise<StepResult> {
  const { step, field } = s.action
  const ladder = ladderOptions(deps.clock.sleep, deps.log, settings)
  if (step['drop-index']) {
    const name = step['drop-index']
    const res = await dropIndexConcurrently(client, name, `${field}.drop-index`, ladder)
    const details = {
      statement: res.statement,
      lockAttempts: res.attempts,
      wasInvalid: res.before ? !res.before.valid : undefined
    }
    if (!res.dropped)
      return {
        status: 'succeeded',
        changed: [],
        details: { ...details, note: `${name} already gone` }
      }
    return {
      status: 'succeeded',
      changed: [
        `dropped index ${res.before!.schema}.${res.before!.name}${res.before!.valid ? '' : ' (was INVALID)'}`
      ],
      recovery: [`recreate index ${name}: ${recreateStatement(res.before!)}`],
      details
    }
  }
  const spec = specOf(step)
  if (spec) {
    const backupTable = backupTableName(spec.table, deps.run.request.runId)
    const res = await runBatchUpdate(client, spec, {
      backupTable,
      ladder,
      field: `${field}.batch-update`
    })
    const details = { ...res }
    const recovery =
      res.rowsChanged > 0
        ? [
            `${res.rowsChanged} ${spec.table} rows reset; their old values are in ${backupTable}. Undo: ${res.restoreSql}`
          ]
        : undefined
    const changed =
      res.rowsChanged > 0
        ? [`${res.rowsChanged} rows of ${spec.table} updated in ${res.batches} batches`]
        : []
    if (res.timeCapped) {
      return {
        status: 'failed',
        changed,
        recovery,
        details,
        error: {
          message: `${field}.batch-update: stopped at max-duration ${step['batch-update']!['max-duration']} with ${res.remaining} rows still matching`,
          hint: `rerun (it continues where it stopped) or raise ${field}.batch-update.max-duration`
        }
      }
    }
    return { status: res.remaining > 0 ? 'warned' : 'succeeded', changed, recovery, details }
  }
  const stmts = await classifyOrThrow(step.sql ?? '', `${field}.sql`)
  const timings: {
    sql: string
    ms: number
    rows: number | null
    lockAttempts?: LadderAttempt[]
  }[] = []
  for (const stmt of stmts) {
    const started = Date.now()
    try {
      if (stmt.needsLadder) {
        const { value, attempts } = await withLockLadder(client, `${field}.sql`, ladder, () =>
          client.query(stmt.sql)
        )
        timings.push({
          sql: stmt.sql,
          ms: Date.now() - started,
          rows: value.rowCount,
          lockAttempts: attempts
        })
      } else {
        const value = await client.query(stmt.sql)
        timings.push({ sql: stmt.sql, ms: Date.now() - started, rows: value.rowCount })
      }
    } catch (err) {
      const e = err instanceof RollbackError ? err : sqlError(err, `${field}.sql`, stmt.sql)
      return failedResult(e, `${field}.sql`, settings, {
        changed: timings.map(t => `ran: ${t.sql.replace(/\s+/g, ' ').slice(0, 100)}`),
        details: { statements: timings }
      })
    }
  }
  return {
    status: 'succeeded',
    changed: timings.map(
      t =>
        `ran: ${t.sql.replace(/\s+/g, ' ').slice(0, 100)}${t.rows !== null ? ` (${t.rows} rows)` : ''}`
    ),
    details: { statements: timings }
  }
}

/** Longest a drill lets one statement hold its locks in production. */
const DRILL_STATEMENT_MS = 10_000

async function drillStep(
  client: pg.Client,
  s: Step<DatabaseAction>,
  deps: DatabaseDeps,
  settings: DbSettings
): Promise<StepResult> {
  const { step, field } = s.action
  const ladder = { ...ladderOptions(deps.clock.sleep, deps.log, settings), retries: 0 }
  if (step['drop-index']) {
    const info = await inspectIndex(client, step['drop-index'])
    if (info && info.constraints.length > 0) throw constraintError(info, `${field}.drop-index`)
    return {
      status: 'succeeded',
      changed: [],
      details: {
        drill:
          'DROP INDEX CONCURRENTLY cannot run inside a transaction: checked in the catalog instead',
        index: info
          ? {
              table: info.table,
              valid: info.valid,
              sizeBytes: info.sizeBytes,
              definition: info.definition
            }
          : 'already gone'
      }
    }
  }
  const spec = specOf(step)
  if (spec) {
    const res = await drillBatchUpdate(client, spec, {
      backupTable: backupTableName(spec.table, deps.run.request.runId),
      ladder,
      field: `${field}.batch-update`
    })
    return {
      status: 'succeeded',
      changed: [],
      details: { drill: 'first batch run in a transaction, rolled back', ...res }
    }
  }
  const stmts = await classifyOrThrow(step.sql ?? '', `${field}.sql`)
  const report: { sql: string; ms?: number; rows?: number | null; drill: string }[] = []
  let stoppedEarly = false
  await client.query('BEGIN')
  try {
    await client.query(`SET LOCAL lock_timeout = ${Math.round(settings.lockTimeoutMs)}`)
    // A drill must not hold production locks for long: whatever takes longer is stopped and
    // reported (the real run would hold those locks just as long).
    await client.query(`SET LOCAL statement_timeout = ${DRILL_STATEMENT_MS}`)
    for (const stmt of stmts) {
      if (!stmt.transactional) {
        let check = 'cannot run inside a transaction: not run in the drill'
        if (stmt.label === 'DROP INDEX CONCURRENTLY') {
          const info = await inspectIndex(client, stmt.targets[0] ?? '')
          if (info && info.constraints.length > 0) throw constraintError(info, `${field}.sql`)
          check = `${check}; catalog: ${info ? `index exists (valid: ${info.valid})` : 'index already gone'}`
        }
        report.push({ sql: stmt.sql, drill: check })
        continue
      }
      const started = Date.now()
      try {
        const res = await client.query(stmt.sql)
        report.push({
          sql: stmt.sql,
          ms: Date.now() - started,
          rows: res.rowCount,
          drill: 'ran in a transaction, rolled back'
        })
      } catch (err) {
        if ((err as { code?: string }).code !== '57014')
          throw sqlError(err, `${field}.sql`, stmt.sql)
        stoppedEarly = true
        report.push({
          sql: stmt.sql,
          ms: Date.now() - started,
          drill: `stopped after ${DRILL_STATEMENT_MS / 1000} s: a run would hold its locks at least that long; consider batch-update`
        })
        break
      }
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
