/** drop-index steps: DROP INDEX CONCURRENTLY IF EXISTS, alone, under the lock ladder. */
import {
  constraintError,
  dropIndexConcurrently,
  inspectIndex,
  recreateStatement
} from '../../db/drop-index.js'
import { gaveWayLine } from '../../db/autovacuum-yield.js'
import { ladderText } from '../../db/phase-support.js'
import type { StepHandler } from './handler.js'
import { ladderLine } from './handler.js'

export const dropIndexStep: StepHandler = {
  plan(runbook, step) {
    return [
      `DROP INDEX CONCURRENTLY IF EXISTS ${step['drop-index']} — SHARE UPDATE EXCLUSIVE on its table (reads and writes continue); alone, outside any transaction; ${ladderLine(runbook)}`
    ]
  },

  async validate() {
    return undefined
  },

  async inspect({ client, step, field, settings }) {
    const name = step['drop-index']!
    const info = await inspectIndex(client, name)
    if (!info) {
      return {
        changes: [`index ${name} is already gone: nothing to do`],
        details: { index: 'absent' }
      }
    }
    if (info.constraints.length > 0) throw constraintError(info, `${field}.drop-index`)
    return {
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
  },

  async run({ client, step, field, ladder }) {
    const name = step['drop-index']!
    const res = await dropIndexConcurrently(client, name, `${field}.drop-index`, ladder)
    const details = {
      statement: res.statement,
      lockAttempts: res.attempts,
      wasInvalid: res.before ? !res.before.valid : undefined
    }
    if (!res.dropped || !res.before) {
      return {
        status: 'succeeded',
        changed: [],
        details: { ...details, note: `${name} already gone` }
      }
    }
    const before = res.before
    return {
      status: 'succeeded',
      changed: [
        ...(res.yieldedAutovacuums.length > 0
          ? [gaveWayLine(before.table, res.yieldedAutovacuums)]
          : []),
        `dropped index ${before.schema}.${before.name}${before.valid ? '' : ' (was INVALID)'}`
      ],
      recovery: [`recreate index ${name}: ${recreateStatement(before)}`],
      details
    }
  },

  async drill({ client, step, field }) {
    const info = await inspectIndex(client, step['drop-index']!)
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
}
