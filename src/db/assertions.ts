/**
 * Integrity checks as assertions: the runbook's SELECT plus what must hold (exact row count, at
 * most N rows, or the value of the first column of the first row). Run in autocommit on a
 * read-only session. Only the first rows travel to us (the total is counted in the server), so
 * a check that matches a million rows costs no memory.
 */
import type pg from 'pg'
import { RollbackError } from '../util/errors.js'
import type { IntegrityCheck } from '../runbook/schema.js'
import { classifySql } from './sql-classifier.js'

export const MAX_REPORTED_ROWS = 20

export interface AssertionOutcome {
  ok: boolean
  /** "expected 0 rows, got 3" */
  summary: string
  total: number
  rows: Record<string, unknown>[]
  truncated: boolean
  durationMs: number
}

/** The check's single SELECT, or a RollbackError saying why it cannot be a check. */
export async function checkStatement(
  check: Pick<IntegrityCheck, 'sql'>,
  field: string
): Promise<string> {
  const stmts = await classifySql(check.sql).catch((err: unknown) => {
    throw new RollbackError(
      `${field}.sql: ${err instanceof Error ? err.message : err}`,
      `fix ${field}.sql`
    )
  })
  if (stmts.length !== 1 || stmts[0]!.kind !== 'SelectStmt' || !stmts[0]!.readOnly) {
    throw new RollbackError(
      `${field}.sql must be exactly one read-only SELECT (got ${stmts.map(s => s.label).join(', ') || 'nothing'})`,
      `a check only reads; put changes in database steps`
    )
  }
  // A SELECT can still change session state (set_config(), advisory locks): refused as in sql steps.
  if (stmts[0]!.rejected) {
    throw new RollbackError(`${field}.sql: ${stmts[0]!.rejected}`, `a check only reads`)
  }
  return stmts[0]!.sql
}

function expectation(check: IntegrityCheck): string {
  const e = check.expect
  const parts: string[] = []
  if (e.rows !== undefined) parts.push(`${e.rows} row${e.rows === 1 ? '' : 's'}`)
  if (e['max-rows'] !== undefined) parts.push(`at most ${e['max-rows']} rows`)
  if (e.value !== undefined) parts.push(`value ${JSON.stringify(e.value)}`)
  return parts.join(' and ')
}

function sameValue(actual: unknown, expected: string | number | boolean): boolean {
  if (actual === null || actual === undefined) return false
  if (typeof expected === 'boolean') {
    return (
      actual === expected ||
      String(actual) === (expected ? 't' : 'f') ||
      String(actual) === String(expected)
    )
  }
  if (typeof expected === 'number') return Number(actual) === expected
  return String(actual) === expected
}

export async function runAssertion(
  client: pg.Client,
  check: IntegrityCheck,
  sql: string,
  maxRows = MAX_REPORTED_ROWS
): Promise<AssertionOutcome> {
  const started = Date.now()
  const res = await client.query<Record<string, unknown>>(
    `SELECT q.*, count(*) OVER () AS __er_total FROM (${sql}) AS q LIMIT ${maxRows + 1}`
  )
  const durationMs = Date.now() - started
  const total = Number(res.rows[0]?.__er_total ?? 0)
  const rows = res.rows.slice(0, maxRows).map(r => {
    const { __er_total: _drop, ...rest } = r
    void _drop
    return rest
  })
  const e = check.expect
  const failures: string[] = []
  if (e.rows !== undefined && total !== e.rows) failures.push(`${total} rows`)
  if (e['max-rows'] !== undefined && total > e['max-rows']) failures.push(`${total} rows`)
  if (e.value !== undefined) {
    const first = rows[0]
    const actual = first ? Object.values(first)[0] : undefined
    if (!sameValue(actual, e.value)) {
      failures.push(`value ${first ? JSON.stringify(actual) : '(no rows)'}`)
    }
  }
  const ok = failures.length === 0
  return {
    ok,
    summary: ok
      ? `holds: ${expectation(check)} (got ${total} row${total === 1 ? '' : 's'})`
      : `expected ${expectation(check)}, got ${[...new Set(failures)].join(' and ')}`,
    total,
    rows,
    truncated: total > rows.length,
    durationMs
  }
}
