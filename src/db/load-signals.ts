/**
 * The database-side signals the adaptive batcher reads after each batch: other backends of this
 * database waiting for a lock (row or table; a backend waiting on a row waits on the holder's
 * transaction id, so pg_stat_activity's wait_event_type is the general signal), and the round trip
 * of a trivial query, which rises when the server is saturated (CPU, I/O, WAL flushes). The probe
 * is sent twice and the faster one counts: on a busy machine one round trip is often delayed by
 * the scheduler alone, which is no sign of a saturated server and would back the batcher off for
 * nothing; a saturated server slows both.
 */
import type pg from 'pg'
import type { BatchSignals } from './adaptive-batcher.js'

export async function readLoadSignals(
  client: pg.Client,
  batchMs: number,
  now: () => number = Date.now
): Promise<BatchSignals> {
  const probeMs = Math.min(await probe(client, now), await probe(client, now))
  const res = await client.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid() AND datname = current_database()`
  )
  return { batchMs, lockWaiters: res.rows[0]?.n ?? 0, probeMs }
}

async function probe(client: pg.Client, now: () => number): Promise<number> {
  const started = now()
  await client.query('SELECT 1')
  return now() - started
}
