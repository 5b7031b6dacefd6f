/**
 * A connection dropped in the middle of a batch-update, generated: after k committed batches the
 * next batch is held on a row lock of the app, and then its connection is dropped, either by the
 * server (pg_terminate_backend) or by the network (the TCP connection cut under the client).
 * Whatever k and the kind of drop: the step fails with one sentence that says what was done and
 * what to do (no raw driver message, no stack), every row changed has its old value in the backup
 * (each batch is one statement: it commits whole, with its backup rows, or not at all), the report
 * keeps where they are, and a rerun converges to the end state of an uninterrupted run.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import pg from 'pg'
import { backupTableName } from '../src/db/batch-update.js'
import { databasePhase } from '../src/phases/database.js'
import { testContext, testRequest, testRunbook } from './support/context.js'
import { createTestDatabase, queryRows, testDatabaseUrl, withPg } from './support/postgres.js'
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js'

const STUCK = `is_active AND status = 'error'`
const BATCH = 5

const runbook = testRunbook({
  database: {
    // Long enough that the held batch is still waiting when its connection drops.
    'lock-timeout': '30s',
    'lock-retries': 0,
    steps: [
      {
        name: 'reset stuck sessions',
        'batch-update': {
          table: 'sessions',
          key: 'id',
          set: { is_active: 'false' },
          where: STUCK,
          'batch-size': BATCH,
          pause: '1ms'
        }
      }
    ]
  }
})

/** 80 sessions with sparse ids; every third is stuck. */
async function table(): Promise<string> {
  const url = await createTestDatabase(testDatabaseUrl(), 'er_batchfault')
  await withPg(url, c =>
    c.query(`
      CREATE TABLE sessions (id bigint PRIMARY KEY, status text NOT NULL, is_active boolean NOT NULL);
      INSERT INTO sessions
      SELECT g * 7, CASE WHEN g % 3 = 0 THEN 'error' ELSE 'streaming' END, g % 3 = 0 OR g % 4 = 0
        FROM generate_series(1, 80) g;`)
  )
  return url
}

const snapshot = (url: string) =>
  queryRows<{ id: string; status: string; is_active: boolean }>(
    url,
    'SELECT id::text, status, is_active FROM sessions ORDER BY id'
  )

const appName = (runId: string) => `emergency-rollback database ${runId}`

/** Our session for `runId`, waiting on a lock (the held batch), or undefined. */
async function waitingBackend(url: string, runId: string): Promise<number | undefined> {
  const rows = await queryRows<{ pid: number }>(
    url,
    `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
    [appName(runId)]
  )
  return rows[0]?.pid
}

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 400; i++) {
    const found = await probe()
    if (found !== undefined) return found
    await new Promise(r => setTimeout(r, 25))
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** Runs the step; the run's ctx.sleep (the pause after each batch) is where the fault starts. */
async function runStep(url: string, runId: string, afterBatch?: (n: number) => Promise<void>) {
  let batches = 0
  const ctx = testContext({
    runbook,
    request: testRequest({ runId }),
    env: { DATABASE_URL: url },
    sleep: async () => {
      await afterBatch?.(++batches)
    }
  })
  const [step] = databasePhase.plan(runbook, ctx.request)
  return databasePhase.run(step!, ctx)
}

let uninterrupted: Awaited<ReturnType<typeof snapshot>>
let proxy: TcpProxy
beforeAll(async () => {
  const url = await table()
  const clean = await runStep(url, 'batchfault-clean')
  expect(clean.status).toBe('succeeded')
  uninterrupted = await snapshot(url)
  proxy = await startTcpProxy(Number(new URL(testDatabaseUrl()).port))
}, 60_000)
afterAll(() => proxy?.close())

let runs = 0

describe('a connection dropped mid-batch', () => {
  it('stops with one sentence, keeps every old value, and a rerun converges', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 12 }),
        fc.constantFrom('server terminates the session' as const, 'network cut' as const),
        async (k, drop) => {
          const url = await table()
          const before = await snapshot(url)
          const stuckIds = before.filter(r => r.is_active && r.status === 'error').map(r => r.id)
          const runId = `batchfault-${++runs}`
          // Through the proxy, so the network can be cut under this run (and only this run).
          const viaProxy = Object.assign(new URL(url), { port: String(proxy.port) }).toString()
          const app = new pg.Client({ connectionString: url })
          app.on('error', () => {})
          await app.connect()
          let held: string | undefined
          const dropped = runStep(viaProxy, runId, async n => {
            if (n !== k) return
            // The app holds the next stuck row: the next batch to reach it waits there ...
            await app.query('BEGIN')
            const next = await app.query<{ id: string }>(
              `SELECT id::text FROM sessions WHERE ${STUCK} ORDER BY id LIMIT 1 FOR UPDATE`
            )
            held = next.rows[0]?.id
            if (held === undefined) return void (await app.query('ROLLBACK'))
            // ... and its connection drops while it waits.
            // (Should it never wait there, the batch times out on the lock and the message check fails.)
            void until('the batch to wait on the held row', () => waitingBackend(url, runId))
              .then(async pid => {
                if (drop === 'network cut') proxy.cut()
                else await queryRows(url, 'SELECT pg_terminate_backend($1)', [pid])
              })
              .catch(() => {})
          })
          const result = await dropped
          await app.query('ROLLBACK').catch(() => {})
          await app.end()
          // A session whose client was cut finishes its statement on its own: wait for it.
          await until('the dropped session to end', async () =>
            (
              await queryRows(url, 'SELECT 1 FROM pg_stat_activity WHERE application_name = $1', [
                appName(runId)
              ])
            ).length === 0
              ? true
              : undefined
          )
          const backup = backupTableName('sessions', runId)
          const kept = await queryRows<{ id: string; is_active: boolean }>(
            url,
            `SELECT id::text, is_active FROM ${backup} ORDER BY id`
          )
          const after = await snapshot(url)
          const changed = after.filter(r => stuckIds.includes(r.id) && !r.is_active).map(r => r.id)

          if (held === undefined) {
            // k was past the last batch: nothing to drop, the run simply finished.
            expect(result.status).toBe('succeeded')
          } else {
            expect(result.status).toBe('failed')
            expect(result.error?.message).toMatch(
              /^database\.steps\[0\]\.batch-update: the connection to the database was lost after \d+ batches \((\d+ rows reset so far, their old values in \S+|no row reset yet)\); each batch is one transaction, so none is half done$/
            )
            expect(result.error?.hint).toMatch(/^rerun/)
            expect(JSON.stringify(result)).not.toMatch(/\n\s+at |Connection terminated|57P01/)
            if (drop === 'server terminates the session') {
              // The batch in flight rolled back: the held row is untouched.
              expect(after.find(r => r.id === held)!.is_active).toBe(true)
            }
            const reported = Number(
              /after \d+ batches \((\d+) rows/.exec(result.error!.message)?.[1] ?? 0
            )
            if (reported > 0) expect(result.recovery?.join('\n')).toContain(backup)
            // The committed batches' rows are what the report says, unless the cut batch committed later.
            expect(changed.length).toBeGreaterThanOrEqual(reported)
          }
          // Every row changed, and only those, has its old value in the backup.
          expect(kept).toEqual(changed.map(id => ({ id, is_active: true })))

          // A rerun of the same run converges to the uninterrupted end state, each row reset once.
          const rerun = await runStep(url, runId)
          expect(rerun.error).toBeUndefined()
          expect(rerun.status).toBe('succeeded')
          expect(await snapshot(url)).toEqual(uninterrupted)
          const all = await queryRows<{ id: string; is_active: boolean }>(
            url,
            `SELECT id::text, is_active FROM ${backup} ORDER BY id`
          )
          expect(all).toEqual(stuckIds.map(id => ({ id, is_active: true })))
        }
      ),
      // Both kinds of drop every time, then generated ones.
      {
        numRuns: 6,
        examples: [
          [3, 'network cut'],
          [3, 'server terminates the session']
        ]
      }
    )
  }, 180_000)
})
