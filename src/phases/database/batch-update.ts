/** batch-update steps: a big UPDATE in primary-key batches, old values kept in a backup table. */
import {
  backupTableName,
  batchStatements,
  BatchUpdateStopped,
  drillBatchUpdate,
  estimateMatching,
  runBatchUpdate,
  validateBatchSpec,
  type BatchUpdateResult,
  type BatchUpdateSpec
} from '../../db/batch-update.js'
import { columnsOf } from '../../db/column-backup.js'
import { sqlError } from '../../db/connection.js'
import { failedResult } from '../../db/phase-support.js'
import type { DatabaseStep } from '../../runbook/schema.js'
import { parseDuration } from '../../util/duration.js'
import { RollbackError } from '../../util/errors.js'
import type { StepHandler, StepInput } from './handler.js'

export function batchSpec(step: DatabaseStep): BatchUpdateSpec {
  const b = step['batch-update']!
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

/** set keys and the key must be columns of the table: every column written is in the backup. */
async function checkColumns(input: Omit<StepInput, 'ladder'>, spec: BatchUpdateSpec, f: string) {
  const cols = await columnsOf(input.client, spec.table)
  if (cols.length === 0) {
    throw new RollbackError(`${f}.table: ${spec.table} does not exist`, `fix ${f}.table`)
  }
  if (!cols.some(c => c.name === spec.key)) {
    throw new RollbackError(`${f}.key: ${spec.table} has no column ${spec.key}`, `fix ${f}.key`)
  }
  for (const c of Object.keys(spec.set)) {
    if (!cols.some(x => x.name === c)) {
      throw new RollbackError(`${f}.set: ${spec.table} has no column ${c}`, `fix ${f}.set.${c}`)
    }
  }
}

/** The report's account of rows reset: what changed, and how to undo it from the backup. */
function kept(
  spec: BatchUpdateSpec,
  res: Pick<BatchUpdateResult, 'rowsChanged' | 'batches' | 'backupTable' | 'restoreSql'>
): { changed: string[]; recovery?: string[] } {
  if (res.rowsChanged === 0) return { changed: [] }
  return {
    changed: [`${res.rowsChanged} rows of ${spec.table} updated in ${res.batches} batches`],
    recovery: [
      `${res.rowsChanged} ${spec.table} rows reset; their old values are in ${res.backupTable}. Undo: ${res.restoreSql}`
    ]
  }
}

export const batchUpdateStep: StepHandler = {
  plan(_runbook, step, runId) {
    const b = step['batch-update']!
    const set = Object.entries(b.set)
      .map(([c, e]) => `${c} = ${e}`)
      .join(', ')
    return [
      `UPDATE ${b.table} SET ${set} WHERE ${b.where} — in batches of ${b['batch-size']} ${b.key}s (one short transaction each, condition re-checked), ROW EXCLUSIVE + row locks of one batch at a time; ${b.pause} pause; at most ${b['max-duration']}`,
      `old values of changed rows kept in ${backupTableName(b.table, runId)}`
    ]
  },

  async validate(step, field) {
    await validateBatchSpec(batchSpec(step), `${field}.batch-update`)
    return undefined
  },

  async inspect(input) {
    const spec = batchSpec(input.step)
    const f = `${input.field}.batch-update`
    await checkColumns(input, spec, f)
    const statements = await batchStatements(spec, backupTableName(spec.table, input.runId), f)
    try {
      return { details: { eligibleRowsEstimate: await estimateMatching(input.client, statements) } }
    } catch (err) {
      throw sqlError(err, `${f}.where`)
    }
  },

  async run({ client, step, field, runId, ladder, settings }) {
    const spec = batchSpec(step)
    const backupTable = backupTableName(spec.table, runId)
    let res
    try {
      res = await runBatchUpdate(client, spec, {
        backupTable,
        ladder,
        field: `${field}.batch-update`
      })
    } catch (err) {
      if (!(err instanceof BatchUpdateStopped)) throw err
      // What the committed batches changed stays in the report, with where its old values are.
      const { rowsChanged, batches, restoreSql } = err
      return failedResult(err.reason, field, settings, {
        ...kept(spec, { rowsChanged, batches, backupTable, restoreSql }),
        details: { rowsChanged, batches, backupTable, restoreSql }
      })
    }
    const details = { ...res }
    const { changed, recovery } = kept(spec, res)
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
  },

  async drill({ client, step, field, runId, ladder }) {
    const spec = batchSpec(step)
    const res = await drillBatchUpdate(client, spec, {
      backupTable: backupTableName(spec.table, runId),
      ladder: { ...ladder, retries: 0 },
      field: `${field}.batch-update`
    })
    return {
      status: 'succeeded',
      changed: [],
      details: { drill: 'first batch run in a transaction, rolled back', ...res }
    }
  }
}
