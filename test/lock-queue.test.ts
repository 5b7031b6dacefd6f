/**
 * Queued rollbacks wait in arrival order (src/git/lock-wait.ts): real clones of a real bare remote,
 * one per run as on separate machines, and an injected clock (the tests move time, never wait for
 * it). The lock and the queue are only refs on the remote, so what one run sees every other does.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { HEARTBEAT_TIMEOUT_MS, joinQueue, parseEntryName } from '../src/git/lock-queue.js'
import {
  LOCK_REF,
  takeLockRef,
  type HolderState,
  type LockHolderInfo,
  type LockStaleness
} from '../src/git/lock-ref.js'
import { execGit, type GitRunner } from '../src/git/git-command-manager.js'
import { createGit } from '../src/git/session.js'
import { releaseLock, rollback } from '../src/rollback.js'
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
    staleness?: LockStaleness
  }): Promise<HeldRunLock>
}

/** A run on its own clone ("machine") that takes the whole-run lock (git only). */
function runner(holder: string, gitRunner?: GitRunner): Runner {
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
        checkout: { workdir, env: {}, log, runner: gitRunner },
        git: { remote: 'origin', branch: 'main' },
        info: info(holder),
        log,
        wait: wait && {
          waitMs: wait.waitMs,
          now: () => clock.at,
          sleep: wait.sleep ?? yieldSleep,
          signal: wait.signal,
          staleness: wait.staleness,
          onQueued: message => void queued.push(message)
        }
      })
  }
}

/** A sleep the test ends: the run polls once per `wake()`. */
function manualSleep() {
  let wake: (() => void) | undefined
  return {
    sleep: () => new Promise<void>(r => (wake = r)),
    asleep: () => wake !== undefined,
    wake() {
      const w = wake
      wake = undefined
      w?.()
    }
  }
}

/** Wakes a run and waits until it has polled once and sleeps again. */
async function pollOnce(name: string, s: ReturnType<typeof manualSleep>): Promise<void> {
  s.wake()
  await until(`${name} asleep again`, s.asleep)
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

  it('a waiter whose heartbeat stops is skipped within a minute; a live slow one keeps its place', async () => {
    const t0 = clock.at
    const [a, dead, slow, m] = [runner('ann'), runner('dead'), runner('sly'), runner('max')]
    const heldA = await a.take()
    // The dead run joined, then its runner was lost: it never polls (nor heartbeats) again.
    void dead.take({ waitMs: 60 * MINUTE, sleep: () => new Promise<void>(() => {}) })
    await until('the dead run queued', () => dead.queued.length > 0)
    const [slowSleep, mSleep] = [manualSleep(), manualSleep()]
    clock.at += 1000
    const waitSlow = slow.take({ waitMs: 60 * MINUTE, sleep: slowSleep.sleep })
    await until('slow queued', slowSleep.asleep)
    clock.at += 1000
    const waitM = m.take({ waitMs: 60 * MINUTE, sleep: mSleep.sleep })
    await until('M queued', mSleep.asleep)
    expect(m.queued.at(-1)).toMatch(/behind ann .*position 3 /)

    // Both live waiters poll once: each renames its entry with a fresh heartbeat, same arrival.
    clock.at = t0 + 52_000
    await pollOnce('slow', slowSleep)
    await pollOnce('M', mSleep)
    const entries = queueRefs().map(r => parseEntryName(r)!)
    expect(entries.map(e => e.heartbeatAt)).toEqual([t0, t0 + 52_000, t0 + 52_000])
    expect(entries.map(e => e.arrivedAt)).toEqual([t0, t0 + 1000, t0 + 2000])
    expect(m.queued.at(-1)).toMatch(/position 3 /)

    // The holder is done. The dead run has been silent past the bound, the slow one for less.
    expect(await heldA.release()).toEqual([])
    clock.at = t0 + 52_000 + HEARTBEAT_TIMEOUT_MS - 10_000
    expect(clock.at - t0).toBeGreaterThan(HEARTBEAT_TIMEOUT_MS)
    await pollOnce('M', mSleep)
    expect(m.queued.at(-1)).toMatch(/^queued behind runs queued earlier, position 2 /)
    expect(lockRef()).toBe('')
    // The slow run, next in line, takes the lock though the dead one arrived first.
    slowSleep.wake()
    const heldSlow = await waitSlow
    await pollOnce('M', mSleep)
    expect(m.queued.at(-1)).toMatch(/behind sly .*position 1 /)
    expect(await heldSlow.release()).toEqual([])
    mSleep.wake()
    expect(await (await waitM).release()).toEqual([])
    // Only the dead run's entry is left (removed by whoever polls a minute after it went stale).
    expect(queueRefs().map(r => parseEntryName(r)!.arrivedAt)).toEqual([t0])
    git(repo.work, 'push', '--quiet', 'origin', ...queueRefs().map(r => `:${r}`))
  }, 60_000)

  it('an entry removed as stale while its waiter is alive comes back at its place', async () => {
    const [a, b, c] = [runner('olga'), runner('pete'), runner('quin')]
    const heldA = await a.take()
    const [bSleep, cSleep] = [manualSleep(), manualSleep()]
    const waitB = b.take({ waitMs: 60 * MINUTE, sleep: bSleep.sleep })
    await until('B queued', bSleep.asleep)
    clock.at += 1000
    const waitC = c.take({ waitMs: 60 * MINUTE, sleep: cSleep.sleep })
    await until('C queued', cSleep.asleep)
    const [bEntry] = queueRefs()
    git(repo.work, 'push', '--quiet', 'origin', `:${bEntry}`)
    clock.at += 1000
    await pollOnce('B', bSleep)
    const names = queueRefs().map(r => parseEntryName(r)!)
    expect(names.map(e => e.tag)).toEqual([parseEntryName(bEntry!)!.tag, expect.any(String)])
    await heldA.release()
    await pollOnce('C', cSleep)
    expect(lockRef()).toBe('')
    bSleep.wake()
    await (await waitB).release()
    cSleep.wake()
    await (await waitC).release()
    expect(queueRefs()).toEqual([])
  }, 60_000)

  it('release-lock says who is queued and removes the stale entries only', async () => {
    const manager = await createGit({ workdir: repo.work, env: {}, log: recordingLogger() })
    await takeLockRef(manager, 'origin', info('rita'))
    await joinQueue(manager, 'origin', info('ghost'), {
      arrivedAt: clock.at - 10 * MINUTE,
      deadline: clock.at + 50 * MINUTE
    })
    await joinQueue(manager, 'origin', info('sam'), {
      arrivedAt: clock.at - 1000,
      deadline: clock.at + 50 * MINUTE
    })
    const runbook = join(mkdtempSync(join(tmpdir(), 'release-')), 'rollback.yml')
    writeFileSync(runbook, 'version: 1\nname: app\ngit:\n  remote: origin\n  branch: main\n')
    // From another machine: the waiters' commits are only on the remote.
    const said = await releaseLock({
      runbookPath: runbook,
      workdir: clone(repo, { name: 'releaser' }),
      env: {},
      log: recordingLogger(),
      now: () => clock.at
    })
    expect(said).toMatch(
      /^released the lock held by rita since .*; queue: waiting: 1\. sam since 2026-03-01T10:00:00\.000Z \(run of runbook "app", https:\/\/ci\/runs\/sam\), silent for 1\.0 s; removed 1 of 1 stale queue entries \(their run gave up or is gone\): ghost since .*, silent for 10 min 0 s$/
    )
    expect(queueRefs().map(r => parseEntryName(r)!.arrivedAt)).toEqual([clock.at - 1000])
    expect(lockRef()).toBe('')
    git(repo.work, 'push', '--quiet', 'origin', ...queueRefs().map(r => `:${r}`))
    expect(
      await releaseLock({
        runbookPath: runbook,
        workdir: repo.work,
        env: {},
        log: recordingLogger()
      })
    ).toMatch(/^no lock held: .*; queue: nobody is queued$/)
  }, 60_000)

  it('a refused heartbeat only warns: the waiter keeps its place and takes the lock in turn', async () => {
    // Every atomic push (the heartbeat) fails: first git cannot start, then the server refuses it.
    let atomicPushes = 0
    const refuseAtomic: GitRunner = (args, options) => {
      if (!args.includes('--atomic')) return execGit(args, options)
      atomicPushes += 1
      if (atomicPushes === 1) return Promise.reject(new Error('spawn git EAGAIN'))
      return Promise.resolve({ exitCode: 1, stdout: '', stderr: 'error: atomic push refused' })
    }
    const [a, b] = [runner('tess'), runner('uma', refuseAtomic)]
    const heldA = await a.take()
    const bSleep = manualSleep()
    const waitB = b.take({ waitMs: 60 * MINUTE, sleep: bSleep.sleep })
    await until('B queued', bSleep.asleep)
    for (const _poll of [1, 2]) {
      clock.at += 5000
      await pollOnce('B', bSleep)
    }
    const renewing =
      /^warn: could not renew our place in the rollback queue \(refs\/emergency-rollback\/queue\/.*\): (.*); trying again at the next poll$/
    expect(b.log.lines.filter(l => l.startsWith('warn:')).map(l => renewing.exec(l)?.[1])).toEqual([
      expect.stringContaining('spawn git EAGAIN'),
      'error: atomic push refused'
    ])
    await heldA.release()
    bSleep.wake()
    await (await waitB).release()
    expect(queueRefs()).toEqual([])
  }, 60_000)
})

describe('a stale lock (its run ended, older than lock-stale-after)', () => {
  const HOUR = 60 * MINUTE
  /** The Actions API's answer about the holder's run, and who was asked about. */
  function staleness(state: HolderState) {
    const asked: string[] = []
    const s: LockStaleness = {
      afterMs: 3 * HOUR,
      holderState: async held => {
        asked.push(held.holder)
        return state
      }
    }
    return { s, asked }
  }
  const startedAt = Date.parse(info('x').startedAt)
  const at = (ms: number) => {
    clock.at = startedAt + ms
  }
  afterAll(() => at(0))

  it('is taken over, with a log line naming the old holder; the new run holds the lock', async () => {
    const [dead, next] = [runner('mia'), runner('ned')]
    await dead.take()
    const before = lockRef()
    at(4 * HOUR)
    const { s, asked } = staleness('ended')
    const held = await next.take({ waitMs: 0, staleness: s })
    try {
      expect(asked).toEqual(['mia'])
      expect(lockRef()).not.toBe(before)
      expect(next.log.lines.join('\n')).toMatch(
        /info: took over a stale rollback lock: held by mia since 2026-03-01T10:00:00\.000Z .*older than 180 min.*\(lock-stale-after\) and that run has ended/
      )
    } finally {
      await held.release()
    }
    expect(lockRef()).toBe('')
  }, 60_000)

  it('a waiting run takes over a lock that goes stale while it waits', async () => {
    const [dead, next] = [runner('opal'), runner('pia')]
    await dead.take()
    at(HOUR)
    const { s } = staleness('ended')
    // Each poll moves the clock half an hour: stale after a few polls, in no real time.
    const sleep = async () => {
      clock.at += 30 * MINUTE
      await yieldSleep()
    }
    // Fresh when it arrives: it queues; the clock passes 3 h while it waits (lock-wait 2 h).
    at(2 * HOUR)
    const held = await next.take({ waitMs: 2 * HOUR, staleness: s, sleep })
    try {
      expect(next.log.lines.join('\n')).toMatch(/took over a stale rollback lock: held by opal/)
      expect(queueRefs()).toEqual([])
    } finally {
      await held.release()
    }
  }, 60_000)

  it.each([
    ['younger than lock-stale-after (its run ended)', HOUR, 'ended' as const, []],
    ['old, but its run is still in progress', 4 * HOUR, 'running' as const, ['quin']],
    ['old, but its run cannot be checked (a CLI run)', 4 * HOUR, 'unknown' as const, ['quin']]
  ])(
    'is refused when %s, naming the holder and how to release it',
    async (_c, age, state, askedFor) => {
      const [holder, next] = [runner('quin'), runner('rosa')]
      const heldA = await holder.take()
      const before = lockRef()
      at(age)
      const { s, asked } = staleness(state)
      try {
        const err = await next.take({ waitMs: 0, staleness: s }).catch((e: unknown) => e)
        expect((err as Error).message).toMatch(
          /another rollback is running: the lock is held by quin since 2026-03-01T10:00:00\.000Z \(run of runbook "app", https:\/\/ci\/runs\/quin\)/
        )
        expect((err as { hint: string }).hint).toMatch(
          /release-lock ticked.*--release-lock` \(CLI\)/
        )
        // A young lock is not even asked about.
        expect(asked).toEqual(askedFor)
        expect(lockRef()).toBe(before)
      } finally {
        at(0)
        await heldA.release()
      }
    },
    60_000
  )
})
