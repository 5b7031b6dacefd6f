/**
 * schema phase: the seed's "Database Schema Rollback" without losing data. For each runbook
 * schema entry: drop the listed indexes (and any other index on the columns) CONCURRENTLY, copy
 * the columns' data to a backup table, then drop all the columns in one ALTER TABLE under the lock
 * ladder. The report says where the data is and gives the SQL that restores it.
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
import type { SchemaRollback } from '../runbook/schema.js'
import { checkRunLockFree, withRunLock } from '../db/advisory-lock.js'
import { gaveWayLine } from '../db/autovacuum-yield.js'
import { drillSchemaRollback } from '../db/column-backup-drill.js'
import { backupTableName } from '../db/batch-update.js'
import {
  alterStatement,
  inspectSchema,
  runSchemaRollback,
  type SchemaRollbackSpec
} from '../db/column-backup.js'
import { withClient, type DbSettings } from '../db/connection.js'
import { constraintError } from '../db/drop-index.js'
import {
  failedResult,
  ladderOptions,
  ladderText,
  preflightSession,
  slug
} from '../db/phase-support.js'

export interface SchemaAction {
  index: number
  field: string
  entry: SchemaRollback
}

export function schemaSpec(entry: SchemaRollback, runId: string): SchemaRollbackSpec {
  return {
    table: entry.table,
    key: entry.key,
    dropColumns: entry['drop-columns'],
    dropIndexes: entry['drop-indexes'],
    backupTable: entry['backup-table'] ?? backupTableName(entry.table, runId, '_columns')
  }
}

type SchemaDeps = Pick<Dependencies, 'database' | 'log' | 'clock' | 'run'>

export const schemaPhase: PhaseModule<SchemaAction, keyof SchemaDeps> = {
  phase: 'schema',
  needs: ['database', 'log', 'clock', 'run'],
  preflightShares: 'database',
  plan(runbook, request) {
    return (runbook.schema ?? []).map((entry, index) => {
      const spec = schemaSpec(entry, request.runId)
      const changes: string[] = []
      for (const i of spec.dropIndexes) {
        changes.push(
          `DROP INDEX CONCURRENTLY IF EXISTS ${i} — SHARE UPDATE EXCLUSIVE on ${spec.table}; alone, outside any transaction; lock_timeout ladder`
        )
      }
      if (spec.dropColumns.length > 0) {
        changes.push(
          `copy ${spec.key}, ${spec.dropColumns.join(', ')} of ${spec.table} to ${spec.backupTable} — ACCESS SHARE (reads and writes continue); writes made meanwhile are captured into it by a trigger (SHARE ROW EXCLUSIVE for a moment, lock_timeout ladder), dropped with the columns`,
          `${alterStatement(spec)} — ACCESS EXCLUSIVE on ${spec.table} for milliseconds (catalog-only), taken with LOCK TABLE under the lock_timeout ladder; rows inserted since the copy are added to the backup under that lock`
        )
      }
      return {
        id: `schema:${index + 1}-${slug(entry.table)}`,
        phase: 'schema' as const,
        title: `drop ${[...spec.dropColumns, ...spec.dropIndexes].join(', ')} from ${entry.table} (data kept in ${spec.backupTable})`,
        changes,
        mutates: true,
        stage: 'main' as const,
        action: { index, field: `schema[${index}]`, entry }
      }
    })
  },

  async preflight(steps, deps) {
    const session = await preflightSession(deps.database.settings, {
      planning: deps.run.request.command === 'plan',
      log: deps.log,
      phase: 'schema'
    })
    if (!session) return {}
    const { client, settings } = session
    const notes: PreflightNote[] = []
    try {
      await checkRunLockFree(client)
      for (const step of steps) notes.push(await check(client, step, deps, settings))
    } finally {
      await client.end().catch(() => {})
    }
    return { notes }
  },

  run(step, deps) {
    return execute(step, deps, false)
  },

  drill(step, deps) {
    return execute(step, deps, true)
  }
}

async function check(
  client: pg.Client,
  step: Step<SchemaAction>,
  deps: SchemaDeps,
  settings: DbSettings
): Promise<PreflightNote> {
  const { field, entry } = step.action
  const spec = schemaSpec(entry, deps.run.request.runId)
  const inspection = await inspectSchema(client, spec)
  if (!inspection.tableExists) {
    throw new RollbackError(`${field}.table: ${spec.table} does not exist`, `fix ${field}.table`)
  }
  if (inspection.present.length > 0 && !inspection.keyExists) {
    throw new RollbackError(
      `${field}.key: ${spec.table} has no column ${spec.key}`,
      `fix ${field}.key`
    )
  }
  for (const info of [...inspection.indexes, ...inspection.dependentIndexes]) {
    if (info.constraints.length > 0) throw constraintError(info, `${field}.drop-indexes`)
  }
  if (inspection.backupExists && inspection.present.length > 0) {
    const missing = [spec.key, ...inspection.present.map(c => c.name)].filter(
      c => !inspection.backupColumns.includes(c)
    )
    if (missing.length > 0) {
      throw new RollbackError(
        `${field}.backup-table: ${spec.backupTable} already exists without column(s) ${missing.join(', ')}`,
        `set ${field}.backup-table to a new name`
      )
    }
  }
  const changes: string[] = []
  for (const info of inspection.indexes) {
    changes.push(
      `DROP INDEX CONCURRENTLY IF EXISTS ${info.schema}.${info.name}${info.valid ? '' : ' (INVALID leftover)'} — SHARE UPDATE EXCLUSIVE; ${ladderText(settings)}`
    )
  }
  for (const info of inspection.dependentIndexes) {
    changes.push(
      `DROP INDEX CONCURRENTLY IF EXISTS ${info.schema}.${info.name} (uses a dropped column; recreate statement kept in the report)`
    )
  }
  if (inspection.present.length > 0) {
    changes.push(
      `copy ${spec.key}, ${inspection.present.map(c => c.name).join(', ')} of ${spec.table} (~${inspection.rows} rows) to ${spec.backupTable}${inspection.backupExists ? ' (exists: refreshed by key)' : ''} — ACCESS SHARE; writes made meanwhile captured by a trigger, dropped with the columns`,
      `${alterStatement({ ...spec, dropColumns: inspection.present.map(c => c.name) })} — ACCESS EXCLUSIVE briefly; ${ladderText(settings)}`
    )
  }
  if (inspection.gone.length > 0) changes.push(`already gone: ${inspection.gone.join(', ')}`)
  if (changes.length === 0) changes.push('nothing to do: columns and indexes already gone')
  return {
    stepId: step.id,
    changes,
    details: {
      columns: inspection.present,
      alreadyGone: inspection.gone,
      estimatedRows: inspection.rows
    }
  }
}

async function execute(
  step: Step<SchemaAction>,
  deps: SchemaDeps,
  drill: boolean
): Promise<StepResult> {
  const { field, entry } = step.action
  let settings: DbSettings | undefined
  try {
    settings = deps.database.settings()
    const s = settings
    const spec = schemaSpec(entry, deps.run.request.runId)
    const ladder = ladderOptions(deps.clock.sleep, deps.log, s)
    return await withRunLock(s, 'schema', () =>
      withClient(s, 'schema', async client => {
        if (drill) {
          const res = await drillSchemaRollback(client, spec, field, ladder)
          return {
            status: 'succeeded' as const,
            changed: [],
            details: {
              drill: 'copy, lock and ALTER TABLE ran in a transaction that was rolled back',
              ...res
            }
          }
        }
        const res = await runSchemaRollback(client, spec, field, ladder)
        const changed: string[] = []
        if (res.droppedIndexes.length > 0)
          changed.push(`dropped index ${res.droppedIndexes.join(', ')}`)
        if (res.removedCaptures.length > 0)
          changed.push(
            `removed the capture trigger(s) ${res.removedCaptures.join(', ')} that an earlier run left on ${spec.table} (their backup tables are kept)`
          )
        if (res.yieldedAutovacuums.length > 0)
          changed.push(gaveWayLine(spec.table, res.yieldedAutovacuums))
        if (res.droppedColumns.length > 0) {
          changed.push(
            `copied ${res.copiedRows + res.newRowsUnderLock} rows of ${spec.table} (${spec.key}, ${res.droppedColumns.join(', ')}) to ${spec.backupTable}`,
            `dropped column(s) ${res.droppedColumns.join(', ')} of ${spec.table}`
          )
        }
        const recovery =
          res.restore.length > 0
            ? [
                `${spec.table}: dropped data is in ${spec.backupTable}. Restore with:\n${res.restore.join('\n')}`
              ]
            : undefined
        return {
          status: 'succeeded' as const,
          changed,
          recovery,
          details: { ...res, backupTable: spec.backupTable }
        }
      })
    )
  } catch (err) {
    return failedResult(err, field, settings)
  }
}
