/**
 * monitor's SQL metrics against a real throwaway PostgreSQL (initdb + pg_ctl in a temp dir; as
 * root the cluster runs as the postgres user). Uses $DATABASE_URL instead when it is set.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import type { Step } from '../src/model.js'
import { monitorPhase, type MonitorAction, type Sample } from '../src/phases/monitor.js'
import { testContext, testRunbook } from './support/context.js'

let url = process.env.DATABASE_URL ?? ''
let stop: () => void = () => {}

function bindir(): string | undefined {
  const res = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' })
  const dir = res.status === 0 ? res.stdout.trim() : '/usr/lib/postgresql/15/bin'
  return existsSync(join(dir, 'initdb')) ? dir : undefined
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as { port: number }).port
  await new Promise(r => server.close(r))
  return port
}

beforeAll(async () => {
  if (url) return
  const bin = bindir()
  if (!bin)
    throw new Error('PostgreSQL binaries not found (install postgresql or set DATABASE_URL)')
  const dir = mkdtempSync(join(tmpdir(), 'er-monitor-pg-'))
  const root = process.getuid?.() === 0
  const user = root ? 'postgres' : undefined
  if (root) {
    const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout)
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout)
    chownSync(dir, uid, gid)
    chmodSync(dir, 0o700)
  }
  const run = (cmd: string, args: string[]) => {
    const [c, a] = user
      ? ['runuser', ['-u', user, '--', join(bin, cmd), ...args]]
      : [join(bin, cmd), args]
    const res = spawnSync(c, a, { encoding: 'utf8', cwd: tmpdir() })
    if (res.status !== 0) throw new Error(`${cmd} failed: ${res.stdout}${res.stderr}`)
  }
  const port = await freePort()
  const data = join(dir, 'data')
  run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync'])
  run('pg_ctl', [
    '-D',
    data,
    '-l',
    join(dir, 'log'),
    '-w',
    '-o',
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
    'start'
  ])
  url = `postgres://postgres@127.0.0.1:${port}/postgres`
  stop = () => {
    run('pg_ctl', ['-D', data, '-m', 'immediate', 'stop'])
    rmSync(dir, { recursive: true, force: true })
  }
}, 60_000)

afterAll(() => stop())

describe('monitor metrics (real PostgreSQL)', () => {
  it('samples metrics read-only, as "emergency-rollback monitor <run id>", and fails when one leaves its range', async () => {
    const setup = new pg.Client({ connectionString: url })
    await setup.connect()
    await setup.query(
      'DROP TABLE IF EXISTS monitor_sessions; CREATE TABLE monitor_sessions (id int, is_active bool)'
    )
    await setup.query('INSERT INTO monitor_sessions SELECT g, g <= 2 FROM generate_series(1, 10) g')
    const runbook = testRunbook({
      monitor: {
        duration: '1m',
        interval: '20s',
        metrics: [
          {
            name: 'active sessions',
            sql: 'SELECT count(*) FROM monitor_sessions WHERE is_active',
            max: 3
          },
          {
            name: 'monitor connection name',
            sql: "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'emergency-rollback monitor%'",
            min: 1
          }
        ]
      }
    })
    let sample = 0
    const ctx = testContext({
      runbook,
      secrets: { databaseUrl: url },
      // Between samples, more sessions get stuck: the second breaks the max.
      sleep: async () => {
        sample++
        if (sample === 1)
          await setup.query('UPDATE monitor_sessions SET is_active = true WHERE id <= 5')
      }
    })
    const step = monitorPhase.plan(runbook, ctx.request)[0] as Step<MonitorAction>
    await monitorPhase.preflight!([step], ctx)
    const result = await monitorPhase.run(step, ctx)
    expect(result.status).toBe('failed')
    expect(result.error?.message).toMatch(/metric active sessions: 5 above max 3 \(sample 2\)/)
    const samples = result.details?.samples as Sample[]
    expect(samples).toHaveLength(2)
    expect(samples[0]!.metrics).toEqual([
      { name: 'active sessions', value: 2, ok: true },
      { name: 'monitor connection name', value: 1, ok: true }
    ])
    const left = await setup.query(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE 'emergency-rollback monitor%'"
    )
    expect(left.rows[0].n).toBe(0)
    await setup.end()
  })

  it('runs metrics read-only: a writing metric fails the sample', async () => {
    const runbook = testRunbook({
      monitor: {
        duration: '10s',
        interval: '10s',
        metrics: [{ name: 'sneaky', sql: 'CREATE TABLE sneaky (x int)' }]
      }
    })
    const ctx = testContext({ runbook, env: { DATABASE_URL: url } })
    const step = monitorPhase.plan(runbook, ctx.request)[0] as Step<MonitorAction>
    const result = await monitorPhase.run(step, ctx)
    expect(result.status).toBe('failed')
    expect(result.error?.message).toMatch(
      /sneaky: query failed: cannot execute CREATE TABLE in a read-only transaction/
    )
  })
})
