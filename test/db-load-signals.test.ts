/**
 * The adaptive batcher against a real PostgreSQL: the signals it reads, and a batch-update that
 * backs off while another backend of the database waits for a lock and speeds up once it stops.
 */
import { describe, expect, it } from '@jest/globals'
import pg from 'pg'
import { limitsFor } from '../src/db/adaptive-batcher.js'
import { backupTableName, runBatchUpdate, type BatchRecord } from '../src/db/batch-update.js'
import { readLoadSignals } from '../src/db/load-signals.js'
import { createTestDatabase, testDatabaseUrl, withPg } from './support/postgres.js'

async function client(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url })
  c.on('error', () => {})
  await c.connect()
  return c
}

async function table(): Promise<string> {
  const url = await createTestDatabase(testDatabaseUrl())
  await withPg(url, c =>
    c.query(`
      CREATE TABLE sessions (id bigint PRIMARY KEY, is_active boolean NOT NULL);
      INSERT INTO sessions SELECT g, true FROM generate_series(1, 20000) g;
      CREATE TABLE other (id int);`)
  )
  return url
}

/** Another backend waits for a lock until release() (a holder and a waiter on table other). */
async function lockWait(url: string): Promise<{ release: () => Promise<void> }> {
  const holder = await client(url)
  const waiter = await client(url)
  await holder.query('BEGIN')
  await holder.query('LOCK TABLE other IN ACCESS EXCLUSIVE MODE')
  const waiting = waiter.query('SELECT count(*) FROM other')
  const probe = await client(url)
  for (let i = 0; i < 100; i++) {
    if ((await readLoadSignals(probe, 0)).lockWaiters > 0) break
    await new Promise(r => setTimeout(r, 20))
  }
  await probe.end()
  return {
    release: async () => {
      await holder.query('COMMIT')
      await waiting
      await holder.end()
      await waiter.end()
    }
  }
}

describe('load signals and the adaptive batch-update', () => {
  it('takes the faster of two probes: one round trip delayed by the scheduler is not a slow server', async () => {
    const sent: string[] = []
    const fake = {
      query: async (sql: string) => {
        sent.push(sql)
        return { rows: [{ n: 0 }] }
      }
    } as unknown as pg.Client
    // Injected clock: the first probe takes 40 ms, the second 2 ms.
    const ticks = [0, 40, 100, 102]
    const signals = await readLoadSignals(fake, 7, () => ticks.shift()!)
    expect(signals).toEqual({ batchMs: 7, lockWaiters: 0, probeMs: 2 })
    expect(sent.filter(q => q === 'SELECT 1')).toHaveLength(2)
    // Both slow: the server is slow.
    const slow = [0, 40, 100, 135]
    expect((await readLoadSignals(fake, 7, () => slow.shift()!)).probeMs).toBe(35)
  })

  it('counts other backends waiting for a lock, and measures the probe round trip', async () => {
    const url = await table()
    const c = await client(url)
    try {
      const quiet = await readLoadSignals(c, 7)
      expect(quiet).toMatchObject({ batchMs: 7, lockWaiters: 0 })
      expect(quiet.probeMs).toBeGreaterThanOrEqual(0)
      const wait = await lockWait(url)
      expect((await readLoadSignals(c, 7)).lockWaiters).toBe(1)
      await wait.release()
      expect((await readLoadSignals(c, 7)).lockWaiters).toBe(0)
    } finally {
      await c.end()
    }
  })

  it('shrinks batches and lengthens pauses while a backend waits for a lock, then speeds up again', async () => {
    const url = await table()
    const c = await client(url)
    const pauses: number[] = []
    const records: BatchRecord[] = []
    let wait: { release: () => Promise<void> } | undefined
    try {
      const res = await runBatchUpdate(
        c,
        {
          table: 'sessions',
          key: 'id',
          set: { is_active: 'false' },
          where: 'is_active',
          batchSize: 1000,
          pauseMs: 1,
          maxDurationMs: 60_000
        },
        {
          backupTable: backupTableName('sessions', 'signals-1'),
          field: 'database.steps[0].batch-update',
          ladder: {
            lockTimeoutMs: 500,
            retries: 0,
            sleep: async ms => {
              pauses.push(ms)
            }
          },
          onBatch: async batch => {
            records.push(batch)
            if (batch.batch === 2) wait = await lockWait(url)
            if (batch.batch === 8) await wait?.release()
          }
        }
      )
      expect(res.remaining).toBe(0)
      expect(res.rowsChanged).toBe(20000)
    } finally {
      await wait?.release().catch(() => {})
      await c.end()
    }
    const limits = limitsFor(1000, 1)
    const sizes = records.map(r => r.size)
    // Batches 3..8 were chosen while the waiter waited: each at most half of the one before.
    for (let i = 2; i < 8; i++)
      expect(sizes[i]).toBeLessThanOrEqual(Math.max(limits.minSize, sizes[i - 1]! / 2))
    expect(sizes[7]).toBe(limits.minSize)
    for (let i = 2; i < 7; i++) expect(pauses[i]).toBeGreaterThanOrEqual(pauses[i - 1]!)
    // Quiet again: the size climbs back (fast batches on a small table).
    expect(Math.max(...sizes.slice(8))).toBeGreaterThan(sizes[7]!)
  })
})
