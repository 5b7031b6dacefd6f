import { describe, expect, it } from '@jest/globals'
import { buildPlan } from '../src/plan.js'
import { runbookFrom } from '../src/runbook/validate.js'
import type { Request } from '../src/model.js'

const request = (over: Partial<Request> = {}): Request => ({
  command: 'plan',
  severity: 'critical',
  trigger: { kind: 'cli' },
  runId: 'test-1',
  ...over
})

describe('buildPlan', () => {
  const runbook = runbookFrom({
    version: 1,
    name: 'demo',
    files: { protect: ['a.ts'] },
    monitor: {}
  })

  it('leaves out phases the severity does not run', () => {
    const plan = buildPlan(runbook, request({ severity: 'low' }))
    expect(plan.steps.map(s => s.phase)).toEqual(['monitor'])
    expect(plan.excluded).toContainEqual({ phase: 'files', reason: 'not part of severity low' })
  })

  it('honours the requested phase subset', () => {
    const plan = buildPlan(runbook, request({ phases: ['files'] }))
    expect(plan.steps.map(s => s.phase)).toEqual(['files'])
  })
})
