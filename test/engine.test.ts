import { describe, expect, it } from '@jest/globals'
import { execute, type Journal } from '../src/engine.js'
import { RollbackError, type PhaseModule, type Step, type StepResult } from '../src/model.js'
import { buildPlan } from '../src/plan.js'
import { MissingSecretError } from '../src/util/errors.js'
import { PHASES, type PhaseName } from '../src/runbook/schema.js'
import { testContext, testRequest, testRunbook } from './support/context.js'

interface Calls {
  preflight: string[]
  run: string[]
  drill: string[]
}

/** Phase modules that plan one step per configured section and record what the engine asks. */
function fakeModules(
  calls: Calls,
  behaviour: Partial<
    Record<
      PhaseName,
      { fail?: string; preflightFail?: string; preflightMissing?: string; stage?: Step['stage'] }
    >
  > = {}
): Record<PhaseName, PhaseModule> {
  const entries = PHASES.map(phase => {
    const module: PhaseModule = {
      phase,
      needs: ['log'],
      plan: runbook =>
        runbook[phase] === undefined
          ? []
          : [
              {
                id: phase,
                phase,
                title: `${phase} step`,
                changes: [`${phase} would change`],
                mutates: phase !== 'integrity',
                stage: behaviour[phase]?.stage ?? 'main',
                action: { section: phase }
              }
            ],
      preflight: async steps => {
        calls.preflight.push(phase)
        const message = behaviour[phase]?.preflightFail
        if (message) throw new RollbackError(message, 'fix it')
        const missing = behaviour[phase]?.preflightMissing
        if (missing) throw new MissingSecretError(missing, 'set it')
        return { notes: steps.map(s => ({ stepId: s.id, changes: [`${phase}: concrete change`] })) }
      },
      run: async step => {
        calls.run.push(step.id)
        const fail = behaviour[phase]?.fail
        if (fail) throw new Error(fail)
        return {
          status: 'succeeded',
          changed: [`${phase} changed`],
          outputs: { [`${phase}-out`]: 'v' },
          recovery: [`${phase} backup`]
        } satisfies StepResult
      },
      drill: async step => {
        calls.drill.push(step.id)
        return { status: 'succeeded', changed: [] }
      }
    }
    return [phase, module] as const
  })
  return Object.fromEntries(entries) as Record<PhaseName, PhaseModule>
}

const runbook = testRunbook({
  files: {},
  integrity: [{ name: 'x', sql: 'SELECT 1', expect: { rows: 1 } }],
  monitor: {},
  notify: {}
})

async function go(
  command: 'plan' | 'run' | 'drill',
  behaviour = {},
  severity: 'critical' | 'medium' = 'critical'
) {
  const calls: Calls = { preflight: [], run: [], drill: [] }
  const modules = fakeModules(calls, behaviour)
  const request = testRequest({ command, severity })
  const plan = buildPlan(runbook, request, modules)
  const journals: Journal[] = []
  const ctx = testContext({ mode: command === 'drill' ? 'drill' : 'run', request, runbook })
  const journal = await execute(plan, ctx, {
    modules,
    onJournal: j => void journals.push(structuredClone(j))
  })
  return { calls, journal, journals }
}

describe('engine', () => {
  it('plan runs only read-only preflight and reports concrete changes', async () => {
    const { calls, journal } = await go('plan')
    expect(calls.run).toEqual([])
    expect(calls.preflight).toEqual(['integrity', 'files', 'monitor', 'notify'])
    expect(journal.status).toBe('planned')
    expect(journal.steps.every(s => s.status === 'planned')).toBe(true)
    expect(journal.steps[0]!.planned).toEqual(['integrity: concrete change'])
    expect(journal.steps.map(s => s.input)).toEqual([
      { section: 'integrity' },
      { section: 'files' },
      { section: 'monitor' },
      { section: 'notify' }
    ])
  })

  it('a plan whose preflight finds the run would fail is a failed plan, the reason first', async () => {
    const { journal, calls } = await go('plan', {
      files: { preflightFail: 'no checkout' },
      monitor: { preflightMissing: 'no database URL' }
    })
    expect(journal.status).toBe('failed')
    expect(journal.error).toEqual({ message: 'files: no checkout', hint: 'fix it' })
    expect(journal.warnings).toEqual(['monitor preflight: no database URL'])
    expect(calls.run).toEqual([])
  })

  it('a plan only warns about what it could not check for want of a secret', async () => {
    const { journal } = await go('plan', { monitor: { preflightMissing: 'no database URL' } })
    expect(journal.status).toBe('planned')
    expect(journal.error).toBeUndefined()
    expect(journal.warnings).toEqual(['monitor preflight: no database URL'])
  })

  it('a run fails on a missing secret like on any preflight failure', async () => {
    const { journal, calls } = await go('run', { monitor: { preflightMissing: 'no database URL' } })
    expect(journal.status).toBe('failed')
    expect(journal.error?.message).toBe('monitor: no database URL')
    expect(calls.run).not.toContain('monitor')
  })

  it('preflights run concurrently, phases sharing the checkout one at a time; failures in plan order', async () => {
    const calls: Calls = { preflight: [], run: [], drill: [] }
    const modules = fakeModules(calls)
    const events: string[] = []
    let running = 0
    let mostAtOnce = 0
    // Each preflight waits; the earlier a phase is in the plan, the longer it takes, so a later
    // phase finishes (and fails) first.
    const slow = (phase: PhaseName, ms: number, fail?: string) => {
      modules[phase].preflight = async () => {
        events.push(`start ${phase}`)
        mostAtOnce = Math.max(mostAtOnce, ++running)
        await new Promise(resolve => setTimeout(resolve, ms))
        running--
        events.push(`end ${phase}`)
        if (fail) throw new RollbackError(fail)
        return {}
      }
    }
    slow('integrity', 60, 'integrity broke')
    slow('files', 40)
    slow('monitor', 20, 'monitor broke')
    slow('notify', 10)
    modules.files.preflightShares = 'checkout'
    modules.notify.preflightShares = 'checkout'
    const request = testRequest({ command: 'run' })
    const plan = buildPlan(runbook, request, modules)
    const journal = await execute(plan, testContext({ request, runbook }), { modules })
    expect(mostAtOnce).toBe(3)
    expect(events.indexOf('start notify')).toBeGreaterThan(events.indexOf('end files'))
    expect(events.indexOf('end monitor')).toBeLessThan(events.indexOf('end integrity'))
    expect(journal.error?.message).toBe('integrity: integrity broke; monitor: monitor broke')
  })

  it('runs every step in order, times them, and gathers outputs and recovery', async () => {
    const { calls, journal } = await go('run')
    expect(calls.run).toEqual(['integrity', 'files', 'monitor', 'notify'])
    expect(journal.status).toBe('succeeded')
    expect(journal.steps.every(s => typeof s.durationMs === 'number' && s.startedAt)).toBe(true)
    expect(journal.outputs).toMatchObject({ 'files-out': 'v', 'notify-out': 'v' })
    expect(journal.recovery).toEqual([
      'integrity backup',
      'files backup',
      'monitor backup',
      'notify backup'
    ])
  })

  it('changes nothing when any preflight fails', async () => {
    const { calls, journal } = await go('run', {
      monitor: { preflightFail: 'health URL unreachable' }
    })
    expect(calls.run).toEqual([])
    expect(journal.status).toBe('failed')
    expect(journal.error).toEqual({ message: 'monitor: health URL unreachable', hint: 'fix it' })
    expect(journal.steps.every(s => s.status === 'skipped')).toBe(true)
  })

  it('reports every preflight failure at once; only closing steps of checked phases run', async () => {
    const { calls, journal } = await go('run', {
      files: { preflightFail: 'no checkout' },
      monitor: { preflightFail: 'health URL unreachable' },
      notify: { stage: 'finally' }
    })
    expect(calls.run).toEqual(['notify'])
    expect(journal.error?.message).toBe('files: no checkout; monitor: health URL unreachable')
    expect(journal.steps.map(s => [s.id, s.status])).toEqual([
      ['integrity', 'skipped'],
      ['files', 'skipped'],
      ['monitor', 'skipped'],
      ['notify', 'succeeded']
    ])
  })

  it('stops at the first failure, skips the rest, but still runs finally steps', async () => {
    const { calls, journal } = await go('run', {
      files: { fail: 'boom' },
      notify: { stage: 'finally' }
    })
    expect(calls.run).toEqual(['integrity', 'files', 'notify'])
    expect(journal.status).toBe('failed')
    expect(journal.steps.map(s => [s.id, s.status])).toEqual([
      ['integrity', 'succeeded'],
      ['files', 'failed'],
      ['monitor', 'skipped'],
      ['notify', 'succeeded']
    ])
    expect(journal.error?.message).toBe('files: boom')
  })

  it('drill calls drill(), never run()', async () => {
    const { calls, journal } = await go('drill')
    expect(calls.run).toEqual([])
    expect(calls.drill).toEqual(['integrity', 'files', 'monitor', 'notify'])
    expect(journal.status).toBe('succeeded')
  })

  it('an investigate-only severity leaves mutating steps out of the plan', async () => {
    const { calls, journal } = await go('run', {}, 'medium')
    expect(calls.run).toEqual(['integrity'])
    expect(journal.excluded).toContainEqual({
      phase: 'monitor',
      reason: 'severity medium is investigate-only: 1 mutating step(s) left out'
    })
  })

  it('a report that cannot be written does not stop the rollback halfway', async () => {
    const calls: Calls = { preflight: [], run: [], drill: [] }
    const modules = fakeModules(calls)
    const request = testRequest({ command: 'run' })
    const ctx = testContext({ request, runbook })
    const journal = await execute(buildPlan(runbook, request, modules), ctx, {
      modules,
      onJournal: () => {
        throw new Error('ENOSPC: no space left on device')
      }
    })
    expect(journal.status).toBe('succeeded')
    expect(calls.run).toEqual(['integrity', 'files', 'monitor', 'notify'])
    expect(ctx.log.lines.filter(l => l.includes('could not write the report'))).toEqual([
      'warn: could not write the report: ENOSPC: no space left on device'
    ])
  })

  it('journals after every step so a crash still leaves a record', async () => {
    const { journals } = await go('run')
    const statuses = journals.map(j => j.steps.filter(s => s.status === 'succeeded').length)
    expect(statuses).toEqual([0, 1, 2, 3, 4, 4])
  })
})
