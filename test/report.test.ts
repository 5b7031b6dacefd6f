import { describe, expect, it } from '@jest/globals'
import type { Journal } from '../src/engine.js'
import { renderMarkdown } from '../src/report/markdown.js'
import { renderText } from '../src/report/text.js'

function journal(over: Partial<Journal> = {}): Journal {
  return {
    command: 'run',
    runbookName: 'demo',
    severity: 'high',
    environment: 'production-rollback',
    status: 'failed',
    startedAt: '2026-01-01T00:00:00.000Z',
    durationMs: 2500,
    steps: [
      {
        id: 'flags',
        phase: 'flags',
        title: 'Set flags | redeploy',
        stage: 'main',
        input: {},
        mutates: true,
        planned: ['A: true -> false'],
        status: 'succeeded',
        startedAt: '2026-01-01T00:00:00.000Z',
        durationMs: 1200,
        changed: ['A: true -> false']
      },
      {
        id: 'git',
        phase: 'git',
        title: 'Revert',
        stage: 'main',
        input: {},
        mutates: true,
        planned: ['revert abc'],
        status: 'failed',
        startedAt: '2026-01-01T00:00:01.200Z',
        durationMs: 300,
        changed: [],
        error: { message: 'push rejected', hint: 'check token permissions' }
      },
      {
        id: 'monitor',
        phase: 'monitor',
        title: 'Watch',
        stage: 'main',
        input: {},
        mutates: false,
        planned: ['watch 5 min'],
        status: 'skipped',
        changed: []
      }
    ],
    excluded: [{ phase: 'schema', reason: 'not configured in the runbook' }],
    outputs: {},
    recovery: ['old flag values: A=true'],
    warnings: [],
    error: { message: 'git: push rejected', hint: 'check token permissions' },
    ...over
  }
}

describe('markdown summary', () => {
  const md = renderMarkdown(journal())

  it('heads with the outcome, the severity and its required environment, and the error with its fix', () => {
    expect(md).toContain('## ❌ Rollback failed: demo')
    expect(md).toContain(
      'Severity **high**. It must run behind the GitHub Environment `production-rollback` (required reviewers).'
    )
    expect(md).toContain('> **Error:** git: push rejected')
    expect(md).toContain('> **Fix:** check token permissions')
  })

  it('tables every step with status, duration and changes, escaping pipes', () => {
    expect(md).toContain('| Set flags \\| redeploy | ✅ succeeded | 1.2 s | A: true -> false |')
    expect(md).toContain(
      '| Revert | ❌ failed | 300 ms | **push rejected** (check token permissions) |'
    )
    expect(md).toContain('| Watch | ⏭️ skipped |  | watch 5 min |')
  })

  it('draws a mermaid timeline of the steps that ran, failures marked', () => {
    const start = Date.parse('2026-01-01T00:00:00.000Z')
    expect(md).toContain('```mermaid\ngantt\n  dateFormat x')
    expect(md).toContain(`  Set flags | redeploy :${start}, ${start + 1200}`)
    expect(md).toContain(`  Revert :crit, ${start + 1200}, ${start + 1500}`)
    expect(md).not.toContain('Watch :')
  })

  it('lists where discarded data was kept and what was left out', () => {
    expect(md).toContain('### Where discarded data was kept\n\n- old flag values: A=true')
    expect(md).toContain('- **schema**: not configured in the runbook')
  })

  it('a plan shows what would change and the order of its steps, not a time axis', () => {
    const plan = renderMarkdown(journal({ command: 'plan', status: 'planned', error: undefined }))
    expect(plan).toContain('| Step | Status | Duration | Would change |')
    expect(plan).not.toContain('gantt')
    expect(plan).toContain(
      [
        '```mermaid',
        'timeline',
        '  title Order of the steps',
        '  section The rollback',
        '    flags : Set flags | redeploy',
        '    git : Revert',
        '    monitor : Watch',
        '```'
      ].join('\n')
    )
  })
})

describe('text report', () => {
  it('aligns steps and prints errors and recovery', () => {
    const text = renderText(journal())
    expect(text).toContain('Rollback demo: FAILED')
    expect(text).toContain(
      'Severity high, to run behind the GitHub Environment production-rollback (required reviewers); started 2026-01-01T00:00:00.000Z.'
    )
    expect(text).toContain(
      'failed      300 ms  Revert  (at +1.2 s)\n                    - error: push rejected'
    )
    expect(text).toContain('succeeded    1.2 s  Set flags | redeploy  (at +0 ms)')
    expect(text).toContain('skipped             Watch\n')
    expect(text).toContain('Where discarded data was kept:\n  - old flag values: A=true')
  })
})

describe('time to mitigation', () => {
  const start = Date.parse('2026-01-01T00:00:00.000Z')
  const withFlags = (details: Record<string, unknown>) => {
    const j = journal()
    j.steps[0] = { ...j.steps[0]!, details }
    return j
  }

  it('shows the instant rollback apart from the durable fix, in both reports', () => {
    const j = withFlags({
      mitigation: { servedId: 'dpl_old', mitigatedAt: start + 4_000, failedChecks: [] },
      durableAt: start + 150_000
    })
    const line =
      'Mitigated after 4.0 s (instant rollback to dpl_old); durable fix after 2 min 30 s.'
    expect(renderMarkdown(j)).toContain(`**${line}**`)
    expect(renderText(j)).toContain(line)
  })

  it('says when there was no instant mitigation, and nothing without flags.instant', () => {
    const j = withFlags({
      mitigation: { skipped: 'no READY production deployment qualifies', failedChecks: [] },
      durableAt: start + 60_000
    })
    expect(renderText(j)).toContain(
      'No instant mitigation (no READY production deployment qualifies); durable fix after 1 min 0 s.'
    )
    expect(renderText(journal())).not.toMatch(/mitigat/i)
  })
})
