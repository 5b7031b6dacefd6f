/**
 * One rollback at a time, status updates while running, and cancellation: the built CLI and the
 * built action (spawned) against a real bare git remote, the real PostgreSQL and a
 * webhook stand-in. The slow step is an integrity check that waits until the test opens a gate
 * (a row it reads in a loop), so every run is exactly as long as the test needs.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { acquireRunLock, lockHolder } from '../src/db/advisory-lock.js'
import { dbSettings } from '../src/db/connection.js'
import { createGit } from '../src/git/session.js'
import { LOCK_REF, takeLockRef } from '../src/git/lock-ref.js'
import { rollback } from '../src/rollback.js'
import { parseOutputFile } from './support/action-runner.js'
import { BUNDLE_TIMEOUT_MS, builtBundle } from './support/bundle.js'
import { recordingLogger } from './support/context.js'
import { clone, git, makeRepo, type TestRepo } from './support/git.js'
import { startWebhookSink } from './support/http.js'
import {
  createTestDatabase,
  installStepGate,
  testDatabaseUrl,
  withPg,
  type StepGate
} from './support/postgres.js'

interface Proc {
  pid: number
  kill(signal: NodeJS.Signals): void
  exited: Promise<{ code: number | null; stdout: string; stderr: string }>
}

/** Spawns the built CLI or action (bundled from the current sources, see support/bundle.ts). */
function start(entry: 'cli' | 'action', args: string[], env: Record<string, string>): Proc {
  const script = join(bundle, entry === 'cli' ? 'cli/index.js' : 'index.js')
  const child = spawn(process.execPath, [script, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  return {
    pid: child.pid!,
    kill: signal => child.kill(signal),
    exited: new Promise(resolve => child.on('close', code => resolve({ code, stdout, stderr })))
  }
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 60_000) {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(r => setTimeout(r, 100))
  }
}

let bundle: string

describe('one rollback at a time', () => {
  let repo: TestRepo
  let dbUrl: string
  let sink: Awaited<ReturnType<typeof startWebhookSink>>
  let dir: string
  const lockRefSha = () => git(repo.work, 'ls-remote', 'origin', LOCK_REF)
  const advisoryHolder = () => withPg(dbUrl, client => lockHolder(client))

  /** The runbook: git remote + database + a gated integrity check + a webhook. */
  function runbook(name: string, options: { git?: boolean; expectRows?: number } = {}) {
    const file = join(dir, `${name}.yml`)
    writeFileSync(
      file,
      [
        'version: 1',
        `name: ${name}`,
        'database:',
        '  url-env: LOCK_DB_URL',
        ...(options.git === false ? [] : ['git:', '  remote: origin', '  branch: main']),
        'integrity:',
        '  - name: gate',
        '    sql: SELECT wait_for_gate()',
        `    expect: { rows: ${options.expectRows ?? 1} }`,
        'notify:',
        '  status-comment: false',
        '  webhook-env: HOOK_URL'
      ].join('\n') + '\n'
    )
    return file
  }
  const env = () => ({ LOCK_DB_URL: dbUrl, HOOK_URL: sink.url })
  const cliRun = (file: string, report: string, user: string) =>
    start(
      'cli',
      [
        'run',
        '--runbook',
        file,
        '--severity',
        'critical',
        '--phases',
        'integrity,notify',
        '--workdir',
        repo.work,
        '--report',
        report
      ],
      { ...env(), USER: user }
    )
  let gate: StepGate
  const closeGate = () => gate.close()
  const openGate = () => gate.open()

  beforeAll(async () => {
    bundle = await builtBundle()
    repo = makeRepo()
    dir = mkdtempSync(join(tmpdir(), 'run-lock-'))
    dbUrl = await createTestDatabase(testDatabaseUrl(), 'er_lock')
    sink = await startWebhookSink()
    gate = await installStepGate(dbUrl)
  }, BUNDLE_TIMEOUT_MS)
  afterAll(async () => {
    await sink?.close()
    repo?.cleanup()
  })

  it('refuses a second run (action) while the CLI holds the lock, naming the holder; gone after success', async () => {
    await closeGate()
    const report = join(dir, 'first.json')
    const first = cliRun(runbook('first'), report, 'alice')
    await until('the lock ref', () => lockRefSha() !== '')
    await until('the advisory lock', async () => (await advisoryHolder()) !== undefined)

    const actionDir = mkdtempSync(join(tmpdir(), 'action-'))
    const outputFile = join(actionDir, 'output')
    writeFileSync(outputFile, '')
    const second = await start('action', [], {
      ...env(),
      INPUT_RUNBOOK: runbook('first'),
      INPUT_COMMAND: 'run',
      INPUT_SEVERITY: 'critical',
      INPUT_PHASES: 'integrity,notify',
      'INPUT_RELEASE-LOCK': 'false',
      GITHUB_WORKSPACE: repo.work,
      GITHUB_ACTOR: 'bob',
      GITHUB_OUTPUT: outputFile,
      RUNNER_TEMP: actionDir
    }).exited
    expect(second.code).toBe(1)
    expect(parseOutputFile(readFileSync(outputFile, 'utf8')).status).toBe('failed')
    expect(second.stdout).toMatch(
      /another rollback is running: the lock is held by alice since \S+ \(run of runbook "first", cli@/
    )
    // Nothing of the second run happened while the first held the lock.
    const secondReport = JSON.parse(
      readFileSync(parseOutputFile(readFileSync(outputFile, 'utf8')).report!, 'utf8')
    ) as { steps: { id: string; status: string }[] }
    expect(secondReport.steps.filter(s => s.id.startsWith('integrity')).map(s => s.status)).toEqual(
      ['skipped', 'skipped']
    )

    await openGate()
    const done = await first.exited
    expect(done.code).toBe(0)
    expect(lockRefSha()).toBe('')
    expect(await advisoryHolder()).toBeUndefined()
    expect(JSON.parse(readFileSync(report, 'utf8'))).toMatchObject({
      status: 'succeeded',
      lock: expect.stringContaining(`git ref ${LOCK_REF}`)
    })
  }, 120_000)

  it('an action run with lock-wait queues behind the CLI run and runs after it (two processes)', async () => {
    await closeGate()
    const queue = () => git(repo.work, 'ls-remote', 'origin', 'refs/emergency-rollback/queue/*')
    const first = cliRun(runbook('queued-first'), join(dir, 'queued-first.json'), 'alice')
    await until('the lock ref', () => lockRefSha() !== '')
    await until('the advisory lock', async () => (await advisoryHolder()) !== undefined)

    const actionDir = mkdtempSync(join(tmpdir(), 'action-'))
    const outputFile = join(actionDir, 'output')
    writeFileSync(outputFile, '')
    const second = start('action', [], {
      ...env(),
      INPUT_RUNBOOK: runbook('queued-second'),
      INPUT_COMMAND: 'run',
      INPUT_SEVERITY: 'critical',
      INPUT_PHASES: 'integrity,notify',
      'INPUT_LOCK-WAIT': '5m',
      GITHUB_WORKSPACE: repo.work,
      GITHUB_ACTOR: 'bob',
      GITHUB_OUTPUT: outputFile,
      RUNNER_TEMP: actionDir
    })
    await until('the action in the queue', () => queue() !== '')
    await openGate()
    expect((await first.exited).code).toBe(0)
    const done = await second.exited
    expect(done.stdout).toMatch(
      /queued behind alice since \S+ \(run of runbook "queued-first", cli@/
    )
    expect(done.code ?? 0).toBe(0)
    expect(parseOutputFile(readFileSync(outputFile, 'utf8')).status).toBe('succeeded')
    expect(queue()).toBe('')
    expect(lockRefSha()).toBe('')
    expect(await advisoryHolder()).toBeUndefined()
  }, 120_000)

  it('holds the database lock alone when the runbook has no git section, and names its holder', async () => {
    const settings = dbSettings({ env: { DATABASE_URL: dbUrl }, runId: 'other' })
    const other = await acquireRunLock(
      settings,
      'other',
      'carol since 2026-01-01T00:00:00Z (run of runbook "x", https://ci/runs/1)'
    )
    try {
      const outcome = await rollback({
        runbookPath: runbook('dbonly', { git: false }),
        inputs: { command: 'run', severity: 'critical', phases: 'integrity,notify' },
        trigger: { kind: 'cli', actor: 'dave' },
        runId: 'dbonly-1',
        workdir: repo.work,
        env: env(),
        secrets: {},
        reportPath: join(dir, 'dbonly.json'),
        log: recordingLogger()
      })
      expect(outcome.journal.status).toBe('failed')
      expect(outcome.journal.error?.message).toContain('carol since 2026-01-01T00:00:00Z')
      expect(outcome.journal.error?.message).toContain('https://ci/runs/1')
      expect(
        outcome.journal.steps.every(s => s.status === 'skipped' || s.stage === 'finally')
      ).toBe(true)
    } finally {
      await other.release()
    }
  })

  it('releases the lock after a failed run', async () => {
    const outcome = await rollback({
      runbookPath: runbook('failing', { expectRows: 2 }),
      inputs: { command: 'run', severity: 'critical', phases: 'integrity,notify' },
      trigger: { kind: 'cli', actor: 'erin' },
      runId: 'failing-1',
      workdir: repo.work,
      env: env(),
      secrets: {},
      reportPath: join(dir, 'failing.json'),
      log: recordingLogger()
    })
    expect(outcome.journal.status).toBe('failed')
    expect(outcome.journal.lock).toContain('the database advisory lock')
    expect(lockRefSha()).toBe('')
    expect(await advisoryHolder()).toBeUndefined()
  })

  it('--release-lock (CLI) and release-lock (action) remove a stale lock after naming its holder', async () => {
    const work = await createGit({ workdir: repo.work, env: {}, log: recordingLogger() })
    const info = {
      holder: 'frank',
      startedAt: '2026-01-02T03:04:05Z',
      run: 'https://ci/runs/9',
      runbook: 'first',
      command: 'run'
    }
    await takeLockRef(work, 'origin', info)
    const cli = await start(
      'cli',
      ['--release-lock', '--runbook', runbook('first'), '--workdir', repo.work],
      {}
    ).exited
    expect(cli.code).toBe(0)
    expect(cli.stderr + cli.stdout).toContain('frank since 2026-01-02T03:04:05Z')
    expect(lockRefSha()).toBe('')

    await takeLockRef(work, 'origin', { ...info, holder: 'grace' })
    const action = await start('action', [], {
      INPUT_RUNBOOK: runbook('first'),
      'INPUT_RELEASE-LOCK': 'true',
      GITHUB_WORKSPACE: repo.work,
      RUNNER_TEMP: dir
    }).exited
    expect(action.code ?? 0).toBe(0)
    expect(action.stdout).toContain('released the lock held by grace')
    expect(lockRefSha()).toBe('')
  }, 60_000)

  it('of several runs taking the lock ref at once (from their own clones), exactly one wins', async () => {
    const info = (holder: string) => ({
      holder,
      startedAt: 'now',
      run: 'r',
      runbook: 'b',
      command: 'run'
    })
    const takers = await Promise.all(
      ['h1', 'h2', 'h3'].map(async holder => {
        const workdir = clone(repo, { name: `taker-${holder}` })
        const manager = await createGit({ workdir, env: {}, log: recordingLogger() })
        return () => takeLockRef(manager, 'origin', info(holder))
      })
    )
    try {
      const results = await Promise.allSettled(takers.map(take => take()))
      expect(results.filter(r => r.status === 'fulfilled')).toHaveLength(1)
      for (const r of results.filter(r => r.status === 'rejected'))
        expect(String((r as PromiseRejectedResult).reason)).toMatch(/lock is held by h\d/)
    } finally {
      git(repo.work, 'push', '--quiet', 'origin', `:${LOCK_REF}`)
    }
  }, 60_000)

  it('SIGTERM stops after the current step: report written, closing notice sent, lock released, exit 1', async () => {
    await closeGate()
    const report = join(dir, 'cancelled.json')
    const posted = sink.received.length
    const run = cliRun(runbook('cancelled'), report, 'heidi')
    // Locked and announced: the gated integrity step is running now.
    await until(
      'the lock and the first step',
      async () => lockRefSha() !== '' && (await advisoryHolder()) !== undefined
    )
    run.kill('SIGTERM')
    await new Promise(r => setTimeout(r, 300))
    await openGate()
    const done = await run.exited
    expect(done.code).toBe(1)
    const journal = JSON.parse(readFileSync(report, 'utf8')) as {
      status: string
      cancelled?: string
      steps: { id: string; status: string }[]
    }
    expect(journal.status).toBe('failed')
    expect(journal.cancelled).toMatch(/^cancelled by SIGTERM: stopped before notify:initiated/)
    const statuses = Object.fromEntries(journal.steps.map(s => [s.id, s.status]))
    expect(statuses).toEqual({
      'integrity:1-gate:before': 'succeeded',
      'notify:initiated': 'skipped',
      'integrity:1-gate:after': 'skipped',
      'notify:closing': 'succeeded'
    })
    const texts = sink.received.slice(posted).map(r => (r.body as { text: string }).text)
    expect(texts.at(-1)).toContain('Rollback FAILED')
    expect(lockRefSha()).toBe('')
    expect(await advisoryHolder()).toBeUndefined()
  }, 120_000)

  it('tells the webhook where a long run is every 15 minutes (driven ticks)', async () => {
    await closeGate()
    const ticks: (() => void)[] = []
    let now = Date.parse('2026-01-01T00:00:00Z')
    const posted = sink.received.length
    const running = rollback({
      runbookPath: runbook('long'),
      inputs: { command: 'run', severity: 'critical', phases: 'integrity,notify' },
      trigger: { kind: 'cli', actor: 'ivan' },
      runId: 'long-1',
      workdir: repo.work,
      env: env(),
      secrets: {},
      reportPath: join(dir, 'long.json'),
      log: recordingLogger(),
      now: () => now,
      every: (ms, fn) => {
        expect(ms).toBe(15 * 60_000)
        ticks.push(fn)
        return () => ticks.splice(ticks.indexOf(fn), 1)
      }
    })
    await until(
      'the first step',
      async () => ticks.length > 0 && (await advisoryHolder()) !== undefined
    )
    for (const minutes of [15, 30]) {
      now += 15 * 60_000
      ticks.forEach(tick => tick())
      await until(`the ${minutes}-minute update`, () =>
        sink.received.some(r =>
          (r.body as { text: string }).text.includes(`${minutes} minutes so far`)
        )
      )
    }
    await openGate()
    const outcome = await running
    expect(outcome.journal.status).toBe('succeeded')
    expect(ticks).toHaveLength(0)
    const texts = sink.received.slice(posted).map(r => (r.body as { text: string }).text)
    expect(texts).toEqual([
      'Rollback initiated, still running: gate (before), 15 minutes so far: long (severity critical)',
      'Rollback initiated, still running: gate (before), 30 minutes so far: long (severity critical)',
      'Rollback initiated: long (severity critical)',
      expect.stringContaining('Rollback complete')
    ])
  }, 120_000)
})
