/**
 * Runbook text drawn into the summary's mermaid charts (summary, status comment, incident issue):
 * every generated chart is read back with the real mermaid parser (headless, on jsdom), and what
 * it holds is checked: the chart's own title and date format stay, every step is one task with
 * its own label, one section per phase.
 */
import { afterAll, describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import type { Journal, StepRecord } from '../src/engine.js'
import { mermaidLabel, renderMarkdown } from '../src/report/markdown.js'
import { MermaidReader } from './support/mermaid.js'

const mermaid = new MermaidReader()
afterAll(() => mermaid.close())

const PHASES = ['flags', 'verify', 'database', 'integrity', 'notify'] as const
const START = Date.parse('2026-01-01T00:00:00.000Z')

function step(title: string, phase: string, i: number, planned = false): StepRecord {
  return {
    id: `s${i}`,
    phase: phase as StepRecord['phase'],
    title,
    stage: 'main',
    input: {},
    mutates: false,
    planned: [],
    status: planned ? 'planned' : i % 3 === 2 ? 'failed' : 'succeeded',
    changed: [],
    ...(planned ? {} : { startedAt: new Date(START + i * 1000).toISOString(), durationMs: 500 })
  }
}

function journal(steps: StepRecord[], command: Journal['command'] = 'run'): Journal {
  return {
    command,
    runbookName: 'demo',
    severity: 'critical',
    status: command === 'plan' ? 'planned' : 'succeeded',
    startedAt: new Date(START).toISOString(),
    durationMs: 10_000,
    steps,
    excluded: [],
    outputs: {},
    recovery: [],
    warnings: [],
    ...(command === 'plan' ? { durationMs: undefined } : {})
  } as Journal
}

function charts(markdown: string): string[] {
  return [...markdown.matchAll(/```mermaid\n([\s\S]*?)```/g)].map(m => m[1]!)
}

/** Titles built to break charts: statements, comments, separators, quotes, line breaks. */
const HOSTILE = [
  'click here href "https://example.com"',
  'dateFormat YYYY-MM-DD',
  'title Owned',
  '%% comment',
  '%%{init: {"theme": "dark"}}%%',
  'a: b; c # d',
  'section evil',
  '"quoted" <b>bold</b> `code` ```',
  'line one\nline two\r\nthree',
  '2026-01-01 starts like a date',
  'accTitle: x',
  'axisFormat %Y',
  'excludes weekends',
  '   ',
  'tab\there\u2028sep\u0000nul'
]

const title = fc.oneof(
  fc.constantFrom(...HOSTILE),
  fc.string({ unit: fc.constantFrom(...'ab :;#%"`<>{}\n\t-_()[]|&'.split('')), maxLength: 30 }),
  fc.tuple(fc.constantFrom(...HOSTILE), fc.string({ maxLength: 20 })).map(([a, b]) => a + b),
  fc.string({ maxLength: 200 })
)

describe('mermaid charts in the summary', () => {
  it('a run timeline keeps its title and date format, one task per step, one section per phase', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(title, fc.constantFrom(...PHASES)), { minLength: 1, maxLength: 8 }),
        async specs => {
          const steps = specs.map(([t, phase], i) => step(t, phase, i))
          const [chart] = charts(renderMarkdown(journal(steps)))
          const chartRead = await mermaid.read(chart!)
          expect(chartRead.error).toBeUndefined()
          expect(chartRead.title).toBe('Rollback timeline')
          expect(chartRead.dateFormat).toBe('x')
          const phases = [...new Set(steps.map(s => s.phase))]
          const expected = phases.flatMap(phase => steps.filter(s => s.phase === phase))
          expect(chartRead.tasks!.map(t => [t.task, t.section, t.start])).toEqual(
            expected.map(s => [mermaidLabel(s.title), s.phase, Date.parse(s.startedAt!)])
          )
          expect(chartRead.sections).toEqual(phases)
        }
      ),
      { numRuns: 60 }
    )
  })

  it('a plan timeline keeps its title, one event per step in order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(title, fc.constantFrom(...PHASES)), { minLength: 1, maxLength: 8 }),
        async specs => {
          const steps = specs.map(([t, phase], i) => step(t, phase, i, true))
          const [chart] = charts(renderMarkdown(journal(steps, 'plan')))
          const chartRead = await mermaid.read(chart!)
          expect(chartRead.error).toBeUndefined()
          expect(chartRead.title).toBe('Order of the steps')
          expect(chartRead.sections).toEqual(['The rollback'])
          expect(chartRead.tasks!.map(t => [t.task, t.events])).toEqual(
            steps.map(s => [s.phase, [mermaidLabel(s.title)]])
          )
        }
      ),
      { numRuns: 60 }
    )
  })

  it('the examples that broke charts are drawn as text', async () => {
    const steps = HOSTILE.map((t, i) => step(t, PHASES[i % PHASES.length]!, i))
    const markdown = renderMarkdown(journal(steps))
    // Each step's label is one line of its chart and the code block stays closed.
    expect(charts(markdown)).toHaveLength(1)
    expect((await mermaid.read(charts(markdown)[0]!)).tasks).toHaveLength(HOSTILE.length)
    expect(mermaidLabel('a: b; c # d')).toBe('a\u2236 b\uFF1B c \uFF03 d')
    expect(mermaidLabel('click here')).toBe('\u200Bclick here')
    expect(mermaidLabel(' \n ')).toBe('(unnamed)')
    expect(mermaidLabel('x'.repeat(500)).length).toBeLessThanOrEqual(80)
  })
})
