/**
 * The severity gate of the reusable workflow, end to end: the action's plan names the environment
 * the runbook gives the request's severity, and the workflow's jobs, their `if:` and `environment:`
 * evaluated as GitHub evaluates them, make the rollback wait in exactly that environment, or start
 * without an approval only when the runbook names none and the plan succeeded.
 */
import { afterAll, describe, expect, it } from '@jest/globals'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { stringify } from 'yaml'
import { rollback } from '../src/rollback.js'
import { DEFAULT_SEVERITY_MATRIX, SEVERITIES, type Severity } from '../src/runbook/constants.js'
import { recordingLogger } from './support/context.js'
import { evaluate, jobRuns, type Value } from './support/expressions.js'
import { dispatch, loadWorkflow, REUSABLE } from './support/workflow.js'

const dir = mkdtempSync(join(tmpdir(), 'workflow-gate-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const ENVIRONMENTS = ['production-rollback', 'sev1-approvers', 'Ops Leads']

/** A runbook's `severity` section: each severity overridden (with or without an environment) or not. */
const severitySection = fc.dictionary(
  fc.constantFrom(...SEVERITIES),
  fc.record({
    phases: fc.constant(['verify']),
    environment: fc.option(fc.constantFrom(...ENVIRONMENTS), { nil: undefined })
  }),
  { minKeys: 0, maxKeys: SEVERITIES.length }
)
type Section = Partial<Record<Severity, { phases: string[]; environment?: string }>>

/** What the runbook says: its own row for the severity, else the built-in one. */
function expectedEnvironment(section: Section, severity: Severity): string {
  const row = section[severity] ?? DEFAULT_SEVERITY_MATRIX[severity]
  return ('environment' in row && row.environment) || ''
}

let runbooks = 0
async function plan(section: Section, severity: Severity) {
  const path = join(dir, `runbook-${runbooks++}.yml`)
  const runbook = {
    version: 1,
    name: 'gate',
    severity: JSON.parse(JSON.stringify(section)) as unknown,
    verify: { smoke: { run: 'true' } },
    notify: { 'status-comment': false }
  }
  writeFileSync(path, stringify(runbook))
  return rollback({
    runbookPath: path,
    inputs: { command: 'plan', severity },
    trigger: { kind: 'dispatch' },
    runId: 'gate',
    workdir: dir,
    env: { PATH: process.env.PATH },
    secrets: {},
    reportPath: join(dir, 'report.json'),
    log: recordingLogger()
  })
}

describe('the plan names the environment of the severity', () => {
  it('the environment output is the runbook’s for every severity (built-in rows included)', async () => {
    await fc.assert(
      fc.asyncProperty(severitySection, fc.constantFrom(...SEVERITIES), async (section, sev) => {
        const outcome = await plan(section, sev)
        expect(outcome.journal.status).toBe('planned')
        expect(outcome.outputs.environment).toBe(expectedEnvironment(section, sev))
      }),
      { numRuns: 30 }
    )
  })
})

type Result = 'success' | 'failure' | 'skipped'
interface JobOutcome {
  result: Result
  outputs: Record<string, string>
}

const workflow = loadWorkflow(REUSABLE)
const job = (name: string) => workflow.jobs[name]!

/** The context a job's expressions see: the jobs it needs, with their results and outputs. */
function contextFor(name: string, done: Record<string, JobOutcome>) {
  const needs = [job(name).needs ?? []].flat()
  const seen = Object.fromEntries(needs.map(n => [n, done[n]!])) as unknown as Value
  const success = needs.every(n => done[n]!.result === 'success')
  return { contexts: { needs: seen }, status: { cancelled: false, success } }
}

/**
 * One workflow run for a request, as GitHub would run it: the real `decide` script, then each
 * job's `if:`; the plan ends as told (`early`: it failed before it read the runbook), and the
 * environment's reviewers approve or reject.
 */
const decisions = new Map<string, ReturnType<typeof dispatch>>()
/** The decide step's answer for a request (a request decides the same way every time). */
function decided(request: { command: string; severity: string }) {
  const key = JSON.stringify(request)
  if (!decisions.has(key)) decisions.set(key, dispatch(request))
  return decisions.get(key)!
}

function workflowRun(
  request: { command: string; severity: string },
  plan: { environment: string; result: 'success' | 'failure'; early: boolean },
  reviewers: 'success' | 'failure'
) {
  const decision = decided(request)
  expect(decision.code).toBe(0)
  const done: Record<string, JobOutcome> = {
    request: { result: 'success', outputs: decision.outputs }
  }
  const skipped: JobOutcome = { result: 'skipped', outputs: {} }
  const planRuns = jobRuns(job('plan').if, contextFor('plan', done))
  const told = plan.result === 'failure' && plan.early ? '' : plan.environment
  done.plan = planRuns ? { result: plan.result, outputs: { environment: told } } : skipped
  const approveContext = contextFor('approve', done)
  const approveRuns = jobRuns(job('approve').if, approveContext)
  const gate = approveRuns ? String(evaluate(job('approve').environment!, approveContext)) : null
  done.approve = approveRuns ? { result: reviewers, outputs: {} } : skipped
  const rollbackRuns = jobRuns(job('rollback').if, contextFor('rollback', done))
  return { planRuns, gate, rollbackRuns }
}

describe('the workflow gates the rollback with that environment', () => {
  it('the approval job waits in the plan’s environment: the rollback starts only after it, or without one only when the runbook names none and the plan succeeded', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('plan', 'run', 'drill'),
        fc.constantFrom(...SEVERITIES),
        fc.constantFrom('', ...ENVIRONMENTS),
        fc.constantFrom('success', 'failure') as fc.Arbitrary<'success' | 'failure'>,
        fc.boolean(),
        fc.constantFrom('success', 'failure') as fc.Arbitrary<'success' | 'failure'>,
        (command, severity, environment, result, early, reviewers) => {
          const run = workflowRun({ command, severity }, { environment, result, early }, reviewers)
          const known = result === 'success' || !early
          const expected = {
            plan: {
              planRuns: true,
              gate: null,
              rollbackRuns: false
            },
            drill: { planRuns: false, gate: null, rollbackRuns: true },
            run: {
              planRuns: true,
              gate: known && environment !== '' ? environment : null,
              rollbackRuns:
                known && environment !== ''
                  ? reviewers === 'success'
                  : environment === '' && result === 'success'
            }
          }[command]
          expect({ command, severity, environment, result, early, ...run }).toEqual({
            command,
            severity,
            environment,
            result,
            early,
            ...expected
          })
        }
      ),
      { numRuns: 200 }
    )
  })

  it('the approval job is named after the environment it waits in', () => {
    expect(job('approve').name).toBe('Approve (${{ needs.plan.outputs.environment }})')
  })

  it('the plan hands the rollback the branch head it planned against, and knows a run waits on it', () => {
    const action = (name: string) => job(name).steps!.find(s => s.id === 'action')!.with!
    expect(job('plan').outputs!['branch-head']).toBe('${{ steps.action.outputs.branch-head }}')
    expect(action('rollback')['expect-head']).toBe('${{ needs.plan.outputs.branch-head }}')
    // approval is 'true' exactly for a run (the decide step): then the plan is the one it waits on.
    expect(action('plan')['plan-before-run']).toBe('${{ needs.request.outputs.approval }}')
    expect(action('rollback')['plan-before-run']).toBeUndefined()
  })
})
