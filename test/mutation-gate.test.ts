/**
 * The mutation gate: shut until the engine has seen every preflight pass, never opened for `plan`,
 * and asked by every kind of change (a push to a real bare remote, a write on a real PostgreSQL
 * session, a hosting write, a GitHub write) before anything leaves the process.
 */
import { describe, expect, it } from '@jest/globals'
import { execute } from '../src/engine.js'
import { rollback } from '../src/rollback.js'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { dbSettings, connect } from '../src/db/connection.js'
import { createGit } from '../src/git/session.js'
import { pushWithLease } from '../src/git/push.js'
import { GitHubClient } from '../src/github/client.js'
import type { PhaseModule } from '../src/model.js'
import { RollbackError } from '../src/model.js'
import { buildPlan } from '../src/plan.js'
import { gatedProvider } from '../src/providers/gated.js'
import type { HostingProvider } from '../src/providers/types.js'
import { PHASES, type PhaseName } from '../src/runbook/schema.js'
import { MutationGate, type GateState } from '../src/util/mutation-gate.js'
import { recordingLogger, testContext, testRequest, testRunbook } from './support/context.js'
import { commit, makeRepo, remoteHead } from './support/git.js'
import { queryRows, seededDatabase } from './support/postgres.js'

describe('the gate itself', () => {
  it('closed refuses everything, notices lets only notices through, open lets everything through', () => {
    const gate = new MutationGate()
    expect(() => gate.assertOpen('push to origin main')).toThrow(RollbackError)
    expect(() => gate.assertMayNotify('post a comment')).toThrow(/refused to post a comment/)
    gate.allowNotices()
    expect(gate.state).toBe('notices')
    expect(() => gate.assertMayNotify('post a comment')).not.toThrow()
    expect(() => gate.assertOpen('set A on vercel')).toThrow(/mutation gate is notices/)
    gate.open()
    expect(() => gate.assertOpen('set A on vercel')).not.toThrow()
    expect(gate.refused).toEqual(['push to origin main', 'post a comment', 'set A on vercel'])
    expect(gate.refusedTotal).toBe(3)
  })
})

/** One step per configured section; each records the gate's state when the engine calls it. */
function recordingModules(
  seen: string[],
  failPreflight?: PhaseName
): Record<PhaseName, PhaseModule> {
  const module = (phase: PhaseName): PhaseModule => ({
    phase,
    needs: ['gate'],
    plan: runbook =>
      runbook[phase] === undefined
        ? []
        : [
            {
              id: phase,
              phase,
              title: phase,
              changes: [],
              mutates: true,
              stage: phase === 'notify' ? 'finally' : 'main',
              action: {}
            }
          ],
    preflight: async (_steps, deps) => {
      seen.push(`preflight ${phase}: ${deps.gate.state}`)
      if (phase === failPreflight) throw new RollbackError('no', 'fix it')
      return {}
    },
    run: async (_step, deps) => {
      seen.push(`run ${phase}: ${deps.gate.state}`)
      return { status: 'succeeded', changed: [] }
    },
    drill: async () => ({ status: 'succeeded', changed: [] })
  })
  return Object.fromEntries(PHASES.map(p => [p, module(p)])) as Record<PhaseName, PhaseModule>
}

async function runEngine(command: 'plan' | 'run', failPreflight?: PhaseName) {
  const runbook = testRunbook({ files: {}, notify: {} })
  const request = testRequest({ command })
  const seen: string[] = []
  const modules = recordingModules(seen, failPreflight)
  const gate = new MutationGate()
  const ctx = testContext({ runbook, request, gate })
  const journal = await execute(buildPlan(runbook, request, modules), ctx, { modules })
  return { seen: seen.sort(), state: gate.state as GateState, journal }
}

describe('the engine opens the gate', () => {
  it('only after every preflight passed', async () => {
    const { seen, state } = await runEngine('run')
    expect(seen).toEqual([
      'preflight files: closed',
      'preflight notify: closed',
      'run files: open',
      'run notify: open'
    ])
    expect(state).toBe('open')
  })

  it('never for plan', async () => {
    const { seen, state, journal } = await runEngine('plan')
    expect(journal.status).toBe('planned')
    expect(seen).toEqual(['preflight files: closed', 'preflight notify: closed'])
    expect(state).toBe('closed')
  })

  it('for closing notices only, when a preflight failed', async () => {
    const { seen, state, journal } = await runEngine('run', 'files')
    expect(journal.status).toBe('failed')
    expect(seen).toEqual([
      'preflight files: closed',
      'preflight notify: closed',
      'run notify: notices'
    ])
    expect(state).toBe('notices')
  })
})

describe('every kind of change asks the gate', () => {
  it('a push to a real remote is refused while the gate is shut, and goes through once open', async () => {
    const repo = makeRepo()
    try {
      const before = remoteHead(repo)!
      commit(repo.work, 'next', { 'a.txt': 'a\n' })
      const gate = new MutationGate()
      const gitOf = await createGit({
        workdir: repo.work,
        env: process.env,
        log: recordingLogger(),
        gate
      })
      const push = { remote: 'origin', src: 'HEAD', dst: 'refs/heads/main', expected: before }
      await expect(pushWithLease(gitOf, push)).rejects.toThrow(
        /refused to push to origin refs\/heads\/main/
      )
      await expect(pushWithLease(gitOf.at(repo.work), push)).rejects.toThrow(
        /mutation gate is closed/
      )
      expect(remoteHead(repo)).toBe(before)
      gate.open()
      await pushWithLease(gitOf, push)
      expect(remoteHead(repo)).not.toBe(before)
    } finally {
      repo.cleanup()
    }
  }, 60_000)

  it('a database session opened while the gate is shut cannot write, in PostgreSQL itself', async () => {
    const url = await seededDatabase()
    const gate = new MutationGate()
    const settings = dbSettings({ env: { DATABASE_URL: url }, runId: 'gate', gate })
    const count = async () =>
      (
        await queryRows<{ n: string }>(
          url,
          'SELECT count(*) AS n FROM outline_sessions WHERE is_active'
        )
      )[0]!.n
    const before = await count()
    const shut = await connect(settings, 'test')
    try {
      await expect(shut.query('UPDATE outline_sessions SET is_active = false')).rejects.toThrow(
        /read-only transaction/
      )
    } finally {
      await shut.end()
    }
    expect(await count()).toBe(before)
    gate.open()
    const open = await connect(settings, 'test')
    try {
      await open.query('UPDATE outline_sessions SET is_active = false')
    } finally {
      await open.end()
    }
    expect(await count()).toBe('0')
  }, 60_000)

  it('hosting writes are refused before the provider is called; reads pass', async () => {
    const calls: string[] = []
    const record = (name: string) => async () => {
      calls.push(name)
      return undefined as never
    }
    const provider: HostingProvider = {
      description: 'stand-in project',
      checkAccess: record('checkAccess'),
      readEnv: record('readEnv'),
      setEnv: record('setEnv'),
      currentProductionDeployment: record('currentProductionDeployment'),
      pendingProductionDeployments: record('pendingProductionDeployments'),
      redeploy: record('redeploy'),
      autoAssignsProduction: record('autoAssignsProduction'),
      promote: record('promote'),
      waitForDeployment: record('waitForDeployment')
    }
    const gate = new MutationGate()
    gate.allowNotices()
    const gated = gatedProvider(provider, gate)
    await gated.readEnv(['A'])
    expect(() => gated.setEnv({ A: '1' }, ['production'])).toThrow(
      /refused to set A on stand-in project/
    )
    expect(() =>
      gated.redeploy({ id: 'd', url: 'x', state: 'READY', aliasAssigned: true }, {})
    ).toThrow(/refused to redeploy/)
    expect(() => gated.promote('d')).toThrow(/refused to promote d/)
    expect(calls).toEqual(['readEnv'])
    gate.open()
    await gated.setEnv({ A: '1' }, ['production'])
    expect(calls).toEqual(['readEnv', 'setEnv'])
  })

  it('GitHub writes are refused while the gate is shut, before any request', async () => {
    const gate = new MutationGate()
    // Nothing listens here: a request would fail differently.
    const client = new GitHubClient({
      apiUrl: 'http://127.0.0.1:9',
      token: 't',
      owner: 'o',
      repo: 'r',
      gate
    })
    await expect(client.createComment(1, 'hi')).rejects.toThrow(
      /refused to send POST issues\/1\/comments/
    )
    await expect(client.createIssue({ title: 't', body: 'b' })).rejects.toThrow(
      /mutation gate is closed/
    )
    gate.allowNotices()
    await expect(client.updateVariable('A', '1')).rejects.toThrow(
      /refused to send PATCH actions\/variables\/A/
    )
    expect(gate.refusedTotal).toBe(3)
  })
})

describe('preflight works through the shut gate', () => {
  it('database, schema and integrity plan the example against a real database on read-only sessions', async () => {
    const url = await seededDatabase()
    const gate = new MutationGate()
    const outcome = await rollback({
      runbookPath: 'examples/streaming-migration/rollback.yml',
      inputs: { command: 'plan', severity: 'critical', phases: 'database,schema,integrity' },
      trigger: { kind: 'cli' },
      runId: 'gate-plan',
      workdir: process.cwd(),
      env: { DATABASE_URL: url },
      secrets: {},
      reportPath: join(mkdtempSync(join(tmpdir(), 'gate-plan-')), 'report.json'),
      log: recordingLogger(),
      gate
    })
    expect(outcome.journal.error).toBeUndefined()
    expect(outcome.journal.warnings).toEqual([])
    expect(outcome.journal.status).toBe('planned')
    expect(gate.state).toBe('closed')
  }, 60_000)
})
