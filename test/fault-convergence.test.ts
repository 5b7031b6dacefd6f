/**
 * Fault injection across the run: a run with database and git steps is stopped at step k (before
 * the step acts, or after it acted but before the engine recorded it, as a killed process would),
 * for every k; a rerun converges: the table and the remote end as one clean run leaves them,
 * with the revert made once and no row written twice or left behind.
 */
import { afterEach, describe, expect, it } from '@jest/globals'
import { rmSync } from 'node:fs'
import { createStreamingRemote } from '../scripts/fixtures/git-remote.js'
import { execute } from '../src/engine.js'
import type { PhaseModule } from '../src/model.js'
import { PHASE_MODULES } from '../src/phases/index.js'
import { buildPlan } from '../src/plan.js'
import type { PhaseName } from '../src/runbook/schema.js'
import { MutationGate } from '../src/util/mutation-gate.js'
import { testContext, testRequest, testRunbook } from './support/context.js'
import { git, tempDir } from './support/git.js'
import { queryRows, seededDatabase } from './support/postgres.js'

const runbook = testRunbook({
  database: {
    steps: [
      {
        name: 'reset stuck sessions',
        'batch-update': {
          table: 'outline_sessions',
          key: 'id',
          set: { is_active: 'false' },
          where: "is_active = true AND status = 'error'",
          'batch-size': 2
        }
      }
    ]
  },
  git: { remote: 'origin', branch: 'main', strategy: 'revert', 'revert-mode': 'single' }
})

type Fault = 'before' | 'after'

class Killed extends Error {}

/** The real phase modules, except that step `stepId` is stopped `when`. */
function faulty(stepId: string, when: Fault): Record<PhaseName, PhaseModule> {
  const wrap = (module: PhaseModule): PhaseModule => ({
    ...module,
    run: async (step, deps, checked) => {
      if (step.id === stepId && when === 'before') throw new Killed(`killed before ${step.id}`)
      const result = await module.run(step, deps, checked)
      if (step.id === stepId && when === 'after') throw new Killed(`killed after ${step.id}`)
      return result
    }
  })
  return Object.fromEntries(
    Object.entries(PHASE_MODULES).map(([phase, module]) => [phase, wrap(module)])
  ) as Record<PhaseName, PhaseModule>
}

let dir: string | undefined
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true })
  dir = undefined
})

async function world() {
  dir = tempDir('fault-')
  const fx = await createStreamingRemote(dir)
  const dbUrl = await seededDatabase()
  const request = testRequest({ revert: fx.streamingRange, phases: ['database', 'git'] })
  const once = (modules: Record<PhaseName, PhaseModule>) => {
    const ctx = testContext({
      workdir: fx.workdir,
      env: { ...process.env, DATABASE_URL: dbUrl },
      runbook,
      request,
      gate: new MutationGate()
    })
    return execute(buildPlan(runbook, request, modules), ctx, { modules })
  }
  const state = async () => ({
    stuck: (
      await queryRows<{ n: string }>(
        dbUrl,
        "SELECT count(*) AS n FROM outline_sessions WHERE is_active AND status = 'error'"
      )
    )[0]!.n,
    rows: (await queryRows<{ n: string }>(dbUrl, 'SELECT count(*) AS n FROM outline_sessions'))[0]!
      .n,
    // The tree at main against the last good commit: empty once the revert is in.
    diff: git(fx.remoteDir, 'diff', '--stat', fx.goodSha, 'main'),
    reverts: git(fx.remoteDir, 'rev-list', '--count', `${fx.streamingShas.at(-1)}..main`)
  })
  return { once, state }
}

describe('a run stopped at any step converges on a rerun', () => {
  const stepIds = buildPlan(runbook, testRequest({ phases: ['database', 'git'] })).steps.map(
    s => s.id
  )

  it('plans a database step and a git step', () => {
    expect(stepIds.length).toBe(2)
  })

  for (const stepId of stepIds) {
    for (const when of ['before', 'after'] as Fault[]) {
      it(`stopped ${when} ${stepId}`, async () => {
        const { once, state } = await world()
        const rowsBefore = (await state()).rows
        const first = await once(faulty(stepId, when))
        expect(first.status).toBe('failed')
        expect(first.error?.message).toContain(`killed ${when} ${stepId}`)
        const rerun = await once(PHASE_MODULES)
        expect(rerun.error).toBeUndefined()
        expect(rerun.status).toBe('succeeded')
        expect(await state()).toEqual({ stuck: '0', rows: rowsBefore, diff: '', reverts: '1' })
      }, 120_000)
    }
  }
})
