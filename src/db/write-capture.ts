/**
 * Writes made while the columns are copied, captured: a row trigger on the table upserts the new
 * key and column values into the backup table for every INSERT and every UPDATE of those
 * columns. It is installed before the copy starts and dropped in the transaction that drops the
 * columns, so at the moment of the drop the backup holds every value the table held.
 *
 * A captured row is marked (`_rollback_captured`): the copy, which reads an older snapshot, never
 * overwrites it. If the run stops before the drop, the trigger stays and keeps the backup current
 * until a rerun drops the columns (or someone drops the trigger: see captureNames).
 */
import type pg from 'pg'
import { ident } from './statement-builder.js'
import { splitName } from './connection.js'

/** Backup column marking rows written by the trigger (newer than any copy of them). */
export const CAPTURED = '_rollback_captured'

export interface CaptureSpec {
  table: string
  key: string
  /** Columns whose values are kept (the ones being dropped). */
  columns: string[]
  backupTable: string
}

/** The trigger (on the table) and its function (next to the backup table), ≤ 63 bytes each. */
export function captureNames(spec: CaptureSpec): { trigger: string; fn: string } {
  const { schema, name } = splitName(spec.backupTable)
  const trigger = `er_capture_${name}`.slice(0, 63)
  return { trigger, fn: schema ? `${schema}.${trigger}` : trigger }
}

function functionSql(spec: CaptureSpec, fn: string): string {
  const cols = [spec.key, ...spec.columns].map(ident)
  const values = cols.map(c => `NEW.${c}`)
  const updates = spec.columns.map(c => `${ident(c)} = EXCLUDED.${ident(c)}`)
  return `CREATE OR REPLACE FUNCTION ${ident(fn)}() RETURNS trigger LANGUAGE plpgsql AS $capture$
BEGIN
  INSERT INTO ${ident(spec.backupTable)} (${cols.join(', ')}, ${CAPTURED})
  VALUES (${values.join(', ')}, true)
  ON CONFLICT (${ident(spec.key)}) DO UPDATE SET ${[...updates, `${CAPTURED} = true`].join(', ')};
  RETURN NULL;
END
$capture$`
}

/** Whether the trigger is on the table now. */
export async function captureInstalled(client: pg.Client, spec: CaptureSpec): Promise<boolean> {
  const res = await client.query(
    'SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass($1) AND tgname = $2',
    [spec.table, captureNames(spec).trigger]
  )
  return (res.rowCount ?? 0) > 0
}

/**
 * Statements that (re)install the trigger (the backup table has its CAPTURED column), to run in
 * one transaction. CREATE TRIGGER takes SHARE ROW EXCLUSIVE, which a long reader's ACCESS SHARE
 * does not block; DROP TRIGGER (even IF EXISTS, even of a trigger that is not there) takes ACCESS
 * EXCLUSIVE, which queues behind the reader and stalls every app query behind it: so an installed
 * trigger is never dropped and recreated, only its function replaced (no gap, no table lock).
 * When the trigger was not there, earlier captured marks are stale: cleared.
 */
export function installCaptureSql(spec: CaptureSpec, wasInstalled: boolean): string[] {
  const { trigger, fn } = captureNames(spec)
  if (wasInstalled) return [functionSql(spec, fn)]
  const watched = [spec.key, ...spec.columns].map(ident).join(', ')
  return [
    `UPDATE ${ident(spec.backupTable)} SET ${CAPTURED} = false WHERE ${CAPTURED}`,
    functionSql(spec, fn),
    `CREATE TRIGGER ${ident(trigger)} AFTER INSERT OR UPDATE OF ${watched} ON ${ident(spec.table)}
       FOR EACH ROW EXECUTE FUNCTION ${ident(fn)}()`
  ]
}

/** Statements that remove the trigger: in the transaction that drops the columns. */
export function removeCaptureSql(spec: CaptureSpec): string[] {
  const { trigger, fn } = captureNames(spec)
  return [
    `DROP TRIGGER IF EXISTS ${ident(trigger)} ON ${ident(spec.table)}`,
    `DROP FUNCTION IF EXISTS ${ident(fn)}()`
  ]
}

/** A capture trigger (and its function) that another run left on the table. */
export interface StrayCapture {
  trigger: string
  /** The function, qualified and with its argument list (regprocedure). */
  fn: string
}

/**
 * Capture triggers of other runs still on the table: a run that stopped before its drop leaves its
 * trigger (see the top of this file), and a later run with another run id has another backup
 * table. Such a trigger depends on the columns (`UPDATE OF`), so the drop must remove it too, and
 * until then it writes to a backup nobody will finish. Only one run changes the database at a
 * time (the run lock), so a trigger of another run is never one still in use.
 */
export async function strayCaptures(client: pg.Client, spec: CaptureSpec): Promise<StrayCapture[]> {
  const res = await client.query<StrayCapture>(
    `SELECT t.tgname AS trigger, t.tgfoid::regprocedure::text AS fn
       FROM pg_trigger t
      WHERE t.tgrelid = to_regclass($1) AND NOT t.tgisinternal
        AND t.tgname LIKE 'er\\_capture\\_%' AND t.tgname <> $2
      ORDER BY 1`,
    [spec.table, captureNames(spec).trigger]
  )
  return res.rows
}

/** Statements that remove other runs' capture triggers: in the transaction that drops the columns. */
export function removeStraySql(table: string, strays: StrayCapture[]): string[] {
  return strays.flatMap(s => [
    `DROP TRIGGER IF EXISTS ${ident(s.trigger)} ON ${ident(table)}`,
    `DROP FUNCTION IF EXISTS ${s.fn}`
  ])
}
