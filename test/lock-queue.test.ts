/**
 * Queued rollbacks wait in arrival order (src/git/lock-wait.ts): real clones of a real bare remote,
 * one per run as on separate machines, and an injected clock (the tests move time, never wait for
 * it). The lock and the queue are only refs on the remote, so what one run sees every other does.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { joinQueue } from '../src/git/lock-queue.js'
import { LOCK_REF, takeLockRef, type LockHolderInfo } from '../src/git/lock-ref.js'
import { createGit } from '../src/git/session.js'
import { rollback } from '../src/rollback.js'
import { takeRunLock, type HeldRunLock } from '../src/run-lock.js'
import { recordingLogger, type RecordingLogger } from './support/context.js'
import { clone, git, makeRepo, type TestRepo } from './support/git.js'
import { startWebhookSink } from './support/http.js'

const MINUTE = 60_000

let repo: TestRepo
beforeAll(() => {
  repo = makeRepo()
})
afterAll(() => repo?.cleanup())

const queueRefs = () =>
  git(repo.bare, 'for-each-ref', '--format=%(refname)', 'refs/emergency-rollback/queue/')
    .split('\n')
    .filter(Boolean)
const lockRef = () => git(repo.bare, 'for-each-ref', '--format=%(objectname)', LOCK_REF)

async function until(what: string, check: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(r => setTimeout(r, 20))
  }
}

const info = (holder: string): LockHolderInfo => ({
  holder,
  startedAt: '2026-03-01T10:00:00.000Z',
  run: `https://ci/runs/${holder}`,
  runbook: 'app',
  command: 'run'
})

/** The clock every run reads: tests move `at`; a sleep only lets the other runs go on. */
const clock = { at: Date.parse('2026-03-01T10:00:00Z') }
const yieldSleep = () => new Promise<void>(r => setTimeout(r, 100))

interface Runner {
  log: RecordingLogger
  queued: string[]
  take(wait?: {
    waitMs: number
    signal?: AbortSignal
    sleep?: (ms: number) => Promise<void>
  }): Promise<HeldRunLock>
}

/** A run on its own clone ("machine") that takes the whole-run lock (git only). */
function runner(holder: string): Runner {
  const workdir = clone(repo, {
    name: `machine-${holder}-${Math.random().toString(36).slice(2, 6)}`
  })
  const log = recordingLogger()
  const queued: string[] = []
  return {
    log,
    queued,
    take: wait =>
      takeRunLock({
        checkout: { workdir, env: {}, log },
        git: { remote: 'origin', branch: 'main' },
        info: info(holder),
        log,
        wait: wait && {
          waitMs: wait.waitMs,
          now: () => clock.at,
          sleep: wait.sleep ?? yieldSleep,
          signal: wait.signal,
          onQueued: message => void queued.push(message)
        }
      })
  }
}

describe('queued rollbacks wait in order', () => {
  it('three runs: B and C wait behind A, then run in arrival order; none is cancelled', async () => {
    const [a, b, c] = [runner('alice'), runner('bob'), runner('carol')]
    const order: string[] = []
    const heldA = await a.take({ waitMs: 10 * MINUTE })
    const waitB = b.take({ waitMs: 10 * MINUTE }).then(held => (order.push('bob'), held))
    await until('B in the queue', () => queueRefs().length === 1)
    clock.at += 1000
    const waitC = c.take({ waitMs: 10 * MINUTE }).then(held => (order.push('carol'), held))
    await until('C in the queue', () => queueRefs().length === 2)
    await until('both told where they are', () => b.queued.length > 0 && c.queued.length > 0)
    expect(b.queued[0]).toMatch(
      /^queued behind alice since 2026-03-01T10:00:00\.000Z \(run of runbook "app", https:\/\/ci\/runs\/alice\), position 1 /
    )
    expect(c.queued[0]).toMatch(/^queued behind alice .*, position 2 /)

    await heldA.release()
    const heldB = await waitB
    expect(order).toEqual(['bob'])
    expect(lockRef()).not.toBe('')
    // C is next, still waiting (B's entry is gone): told it moved up.
    await until('C at position 1', () => c.queued.some(m => /behind bob .*position 1 /.test(m)))
    expect(queueRefs()).toHaveLength(1)

    expect(await heldB.release()).toEqual([])
    const heldC = await waitC
    expect(order).toEqual(['bob', 'carol'])
    expect(queueRefs()).toEqual([])
    expect(await heldC.release()).toEqual([])
    expect(lockRef()).toBe('')
  }, 60_000)

  it('a wait that ends without the lock is refused with the holder and our place; the entry is removed', async () => {
    const [a, b] = [runner('dana'), runner('eve')]
    const heldA = await a.take()
    try {
      // Each sleep moves the clock: the 2-minute wait ends after a few polls, in no real time.
      const sleep = async (ms: number) => {
        clock.at += ms
        await yieldSleep()
      }
      await expect(b.take({ waitMs: 2 * MINUTE, sleep })).rejects.toThrow(
        /another rollback is running: the lock is held by dana since 2026-03-01T10:00:00\.000Z \(run of runbook "app", https:\/\/ci\/runs\/dana\); this run waited 2 min 0 s \(lock-wait\) and was position 1 in the rollback queue/
      )
      expect(queueRefs()).toEqual([])
    } finally {
      await heldA.release()
    }
  }, 60_000)

  it('skips a stale entry (its deadline passed) and removes it; takes the lock once the holder is done', async () => {
    const [a, b] = [runner('frank'), runner('gina')]
    const manager = await createGit({ workdir: repo.work, env: {}, log: recordingLogger() })
    // A run that died while queued, well before now: its deadline is long past.
    await joinQueue(manager, 'origin', info('ghost'), {
      arrivedAt: clock.at - 30 * MINUTE,
      deadline: clock.at - 20 * MINUTE
    })
    // Lock free, only a stale entry queued: taken at once.
    const first = await b.take({ waitMs: 10 * MINUTE })
    await first.release()
    expect(queueRefs()).toHaveLength(1)

    const heldA = await a.take()
    const waitB = b.take({ waitMs: 10 * MINUTE })
    await until('B told its place', () => b.queued.length > 0)
    expect(b.queued[0]).toMatch(/behind frank .*, position 1 /)
    await until('the stale entry removed', () => queueRefs().length === 1)
    await heldA.release()
    await (await waitB).release()
    expect(queueRefs()).toEqual([])
  }, 60_000)

  it('cancellation while queued removes our entry and refuses, nothing taken', async () => {
    const [a, b] = [runner('hank'), runner('iris')]
    const heldA = await a.take()
    try {
      const controller = new AbortController()
      const waiting = b.take({ waitMs: 10 * MINUTE, signal: controller.signal })
      await until('B in the queue', () => queueRefs().length === 1)
      controller.abort('cancelled by SIGTERM')
      await expect(waiting).rejects.toThrow(
        /^cancelled by SIGTERM while queued for the rollback lock at position 1; left the queue, nothing was changed$/
      )
      expect(queueRefs()).toEqual([])
    } finally {
      await heldA.release()
    }
    expect(lockRef()).toBe('')
  }, 60_000)

  it('lock-wait 0 never queues: refused at once naming the holder, and behind waiting runs too', async () => {
    const [a, b, c] = [runner('jack'), runner('kim'), runner('lee')]
    const heldA = await a.take()
    await expect(c.take({ waitMs: 0 })).rejects.toThrow(/the lock is held by jack since/)
    const waitB = b.take({ waitMs: 10 * MINUTE })
    await until('B in the queue', () => queueRefs().length === 1)
    await expect(c.take({ waitMs: 0 })).rejects.toThrow(
      /the lock is held by jack .*; this run does not wait \(lock-wait is 0\) and would be position 2 in the rollback queue/
    )
    expect(queueRefs()).toHaveLength(1)
    await heldA.release()
    await (await waitB).release()
  }, 60_000)

  it('a run that arrives while the lock is free but others wait queues behind them', async () => {
    const manager = await createGit({ workdir: repo.work, env: {}, log: recordingLogger() })
    const [a, b] = [runner('mia'), runner('ned')]
    await takeLockRef(manager, 'origin', info('otto'))
    // A sleeps until the test wakes it: between its polls the lock is freed and B arrives.
    let wakeA = () => {}
    const sleepA = () => new Promise<void>(r => (wakeA = r))
    const waitA = a.take({ waitMs: 10 * MINUTE, sleep: sleepA })
    await until('A in the queue, asleep', () => a.queued.length > 0)
    git(repo.work, 'push', '--quiet', 'origin', `:${LOCK_REF}`)
    clock.at += 1000
    const waitB = b.take({ waitMs: 10 * MINUTE })
    await until('B in the queue', () => b.queued.length > 0)
    expect(b.queued[0]).toMatch(/^queued behind runs queued earlier, position 2 /)
    expect(lockRef()).toBe('')
    wakeA()
    const heldA = await waitA
    await until('B told it waits behind A', () =>
      b.queued.some(m => /behind mia .*position 1 /.test(m))
    )
    await heldA.release()
    await (await waitB).release()
    expect(queueRefs()).toEqual([])
    expect(lockRef()).toBe('')
  }, 60_000)

  it('whole runs: B and C queue behind A through the engine, say so in their reply, then run in order', async () => {
    const sink = await startWebhookSink()
    const dir = mkdtempSync(join(tmpdir(), 'queued-runs-'))
    const manager = await createGit({ workdir: repo.work, env: {}, log: recordingLogger() })
    const held = await takeLockRef(manager, 'origin', info('alice'))
    try {
      const start = (name: string) => {
        const file = join(dir, `${name}.yml`)
        writeFileSync(
          file,
          [
            'version: 1',
            `name: ${name}`,
            'git:',
            '  remote: origin',
            '  branch: main',
            'notify:',
            '  status-comment: false',
            '  webhook-env: HOOK_URL'
          ].join('\n') + '\n'
        )
        const replies: string[] = []
        const running = rollback({
          runbookPath: file,
          inputs: { command: 'run', severity: 'critical', phases: 'notify' },
          trigger: { kind: 'chatops', actor: name },
          runId: `${name}-1`,
          workdir: clone(repo, { name: `run-${name}` }),
          env: { HOOK_URL: sink.url },
          secrets: {},
          reportPath: join(dir, `${name}.json`),
          log: recordingLogger(),
          now: () => clock.at,
          sleep: yieldSleep,
          lockWait: '10m',
          onProgress: async markdown => void replies.push(markdown)
        })
        return { running, replies }
      }
      const b = start('bob')
      await until('B in the queue', () => queueRefs().length === 1)
      clock.at += 1000
      const c = start('carol')
      await until('C in the queue', () => queueRefs().length === 2)
      await until('both replies say where they wait', () =>
        [b, c].every(r => r.replies.some(m => m.startsWith('⏳ queued behind alice')))
      )
      expect(b.replies[0]).toMatch(
        /^⏳ queued behind alice since .*, position 1 in the rollback queue$/
      )
      expect(c.replies[0]).toMatch(
        /^⏳ queued behind alice since .*, position 2 in the rollback queue$/
      )

      git(
        repo.work,
        'push',
        '--quiet',
        `--force-with-lease=${LOCK_REF}:${held.sha}`,
        'origin',
        `:${LOCK_REF}`
      )
      const [doneB, doneC] = await Promise.all([b.running, c.running])
      expect([doneB.journal.status, doneC.journal.status]).toEqual(['succeeded', 'succeeded'])
      expect(doneB.journal.lock).toContain(LOCK_REF)
      const said = sink.received.map(r => (r.body as { text: string }).text.split(':')[0]!)
      expect(said).toEqual([
        'Rollback initiated',
        'Rollback complete, system stable',
        'Rollback initiated',
        'Rollback complete, system stable'
      ])
      const who = sink.received.map(
        r => /: (\w+) \(severity/.exec((r.body as { text: string }).text)?.[1]
      )
      expect(who).toEqual(['bob', 'bob', 'carol', 'carol'])
      expect(queueRefs()).toEqual([])
      expect(lockRef()).toBe('')
    } finally {
      await sink.close()
    }
  }, 120_000)
})
