import { describe, expect, it } from '@jest/globals'
import { backupTableName } from '../src/db/batch-update.js'
import { conflictingModes, ladderSleep, ladderTimeouts, pgLockMode } from '../src/db/lock-ladder.js'
import { LOCK_LEVELS } from '../src/db/sql-classifier.js'

describe('lock ladder shape', () => {
  it('climbs to the runbook lock-timeout in five rungs, then stays there', () => {
    expect(ladderTimeouts(500, 8)).toEqual([100, 200, 300, 400, 500, 500, 500, 500, 500])
    expect(ladderTimeouts(200, 0)).toEqual([40])
  })

  it('sleeps 50 ms doubling up to 5 s, with up to 50% jitter', () => {
    expect([1, 2, 3, 8, 20].map(i => ladderSleep(i, () => 0))).toEqual([50, 100, 200, 5000, 5000])
    expect(ladderSleep(1, () => 1)).toBe(75)
  })
})

describe('backup table names', () => {
  it('are per run, sanitised and fit in 63 bytes', () => {
    expect(backupTableName('public.outline_sessions', '12345678-2')).toBe(
      'rollback_backup.outline_sessions_12345678_2'
    )
    const long = backupTableName('a'.repeat(60), 'run-'.repeat(20))
    expect(long.split('.')[1]!.length).toBeLessThanOrEqual(63)
  })
})

describe('conflictingModes (PostgreSQL table-lock conflicts)', () => {
  const levels = LOCK_LEVELS.filter(l => l !== 'none')

  it('is symmetric; ACCESS EXCLUSIVE conflicts with all; SHARE UPDATE EXCLUSIVE with autovacuum, not the app', () => {
    for (const a of levels) {
      for (const b of levels) {
        expect([a, b, conflictingModes(a).includes(pgLockMode(b))]).toEqual([
          a,
          b,
          conflictingModes(b).includes(pgLockMode(a))
        ])
      }
    }
    expect(conflictingModes('ACCESS EXCLUSIVE')).toHaveLength(levels.length)
    expect(conflictingModes('ACCESS SHARE')).toEqual(['AccessExclusiveLock'])
    // Our road's own request, SHARE UPDATE EXCLUSIVE: conflicts with autovacuum's, not the app's.
    const sue = conflictingModes('SHARE UPDATE EXCLUSIVE')
    expect(sue).toContain('ShareUpdateExclusiveLock')
    for (const app of ['AccessShareLock', 'RowShareLock', 'RowExclusiveLock']) {
      expect(sue).not.toContain(app)
    }
  })
})
