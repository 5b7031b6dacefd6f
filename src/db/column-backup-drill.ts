/**
 * The schema rollback's drill: the copy, the capture's install and removal, the lock and the
 * ALTER TABLE in one transaction that is rolled back; indexes are checked in the catalog.
 */
import type pg from 'pg'
import { RollbackError } from '../util/errors.js'
import { ident, inOneRoundTrip, SERVER_CLOCK, serverClock } from './connection.js'
import { askAutovacuumToYield } from './autovacuum-yield.js'
import {
  captureInstalled,
  installCaptureSql,
  removeCaptureSql,
  removeStraySql,
  strayCaptures,
  type StrayCapture
} from './write-capture.js'
import {
  CLEAR_ROAD_MAX_MS,
  clearRoadOptions,
  waitForClearRoad,
  type LadderOptions
} from './lock-ladder.js'
import {
  alterStatement,
  captureSpec,
  inspectSchema,
  type SchemaRollbackSpec
} from './column-backup.js'
import { copyColumns } from './column-copy.js'

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
