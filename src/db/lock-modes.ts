/**
 * PostgreSQL's table-level lock modes, their order, and which ones conflict: what the classifier
 * reports a statement takes and what the lock ladder looks for in pg_locks.
 */
/** Weakest first ('none': the statement takes no table lock). */
export const LOCK_LEVELS = [
  'none',
  'ACCESS SHARE',
  'ROW SHARE',
  'ROW EXCLUSIVE',
  'SHARE UPDATE EXCLUSIVE',
  'SHARE',
  'SHARE ROW EXCLUSIVE',
  'EXCLUSIVE',
  'ACCESS EXCLUSIVE'
] as const

export type LockLevel = (typeof LOCK_LEVELS)[number]

export type TableLock = Exclude<LockLevel, 'none'>

/**
 * PostgreSQL's table-lock conflict table ("Conflicting Lock Modes" in its docs): one row per mode,
 * one column per mode in LOCK_LEVELS order (weakest first), x where the two conflict.
 */
const CONFLICT_ROWS: Record<TableLock, string> = {
  'ACCESS SHARE': '.......x',
  'ROW SHARE': '......xx',
  'ROW EXCLUSIVE': '....xxxx',
  'SHARE UPDATE EXCLUSIVE': '...xxxxx',
  SHARE: '..xx.xxx',
  'SHARE ROW EXCLUSIVE': '..xxxxxx',
  EXCLUSIVE: '.xxxxxxx',
  'ACCESS EXCLUSIVE': 'xxxxxxxx'
}

const TABLE_LOCKS = LOCK_LEVELS.filter((l): l is TableLock => l !== 'none')

function conflictsOf(lock: TableLock): TableLock[] {
  return TABLE_LOCKS.filter((_, i) => CONFLICT_ROWS[lock][i] === 'x')
}

/** How pg_locks names a mode: SHARE ROW EXCLUSIVE is ShareRowExclusiveLock. */
export function pgLockMode(lock: TableLock): string {
  const words = lock.toLowerCase().split(' ')
  return `${words.map(w => w[0]!.toUpperCase() + w.slice(1)).join('')}Lock`
}

/** The pg_locks modes a request for `lock` waits behind (none for no lock). */
export function conflictingModes(lock: LockLevel): string[] {
  return lock === 'none' ? [] : conflictsOf(lock).map(pgLockMode)
}
