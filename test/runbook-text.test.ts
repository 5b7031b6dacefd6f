/** The runbook's SQL is part of the runbook: bad SQL is an invalid runbook, with file:line. */
import { describe, expect, it } from '@jest/globals'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { stringify } from 'yaml'
import { checkRunbookText } from '../src/runbook-text.js'
import { loadLocatedRunbook, RunbookError, undotted } from '../src/runbook/load.js'
import { dotted } from '../src/runbook/load.js'
import { asFieldProblem, RollbackError } from '../src/util/errors.js'

const dir = mkdtempSync(join(tmpdir(), 'runbook-text-'))

function runbookFile(database: unknown, integrity?: unknown): string {
  const file = join(dir, `r${Math.random().toString(36).slice(2)}.yml`)
  const runbook: Record<string, unknown> = { version: 1, name: 'text', database }
  if (integrity) runbook.integrity = integrity
  writeFileSync(file, stringify(runbook))
  return file
}

async function refusal(file: string): Promise<RunbookError> {
  const err = await checkRunbookText(await loadLocatedRunbook(file)).catch((e: unknown) => e)
  expect(err).toBeInstanceOf(RunbookError)
  return err as RunbookError
}

const step = (where: string, set: Record<string, string> = { is_active: 'false' }) => ({
  name: 'reset',
  'batch-update': { table: 'outline_sessions', key: 'id', set, where }
})

describe('checkRunbookText', () => {
  it('accepts a runbook whose SQL is sound', async () => {
    const file = runbookFile({ 'url-env': 'DATABASE_URL', steps: [step("status = 'error'")] }, [
      { name: 'none stuck', sql: 'SELECT 1', expect: { rows: 1 } }
    ])
    await expect(checkRunbookText(await loadLocatedRunbook(file))).resolves.toBeUndefined()
  })

  it('refuses an escaping where, a smuggled assignment and session-state SQL, each at its line', async () => {
    const file = runbookFile(
      {
        'url-env': 'DATABASE_URL',
        steps: [
          step("status = 'error') OR (true"),
          step('true', { is_active: "false), error_message = ('x'" }),
          { name: 'tune', sql: "SELECT set_config('statement_timeout', '0', false)" }
        ]
      },
      [{ name: 'sneaky', sql: 'DELETE FROM outline_sessions', expect: { rows: 0 } }]
    )
    const err = await refusal(file)
    const lines = err.message.split('\n')
    expect(lines).toHaveLength(4)
    const at = (field: string) => lines.find(l => l.includes(`: ${field}: `))
    // Each line is file:line:col: field: what is wrong; the fix (the line of the value itself).
    expect(at('database.steps[0].batch-update.where')).toMatch(
      new RegExp(
        `^${file}:\\d+:\\d+: \\S+: (is not a valid|must be exactly one) SQL expression.*; fix \\S+: one condition`
      )
    )
    expect(at('database.steps[1].batch-update.set.is_active')).toMatch(
      /(is not a valid|exactly one) SQL expression/
    )
    expect(at('database.steps[2].sql')).toMatch(/set_config/)
    expect(at('integrity[0].sql')).toMatch(/read-only SELECT/)
    const lineOf = (field: string) => Number(at(field)!.split(':')[1])
    expect(lineOf('database.steps[1].batch-update.set.is_active')).toBeGreaterThan(
      lineOf('database.steps[0].batch-update.where')
    )
  }, 30_000)

  it('names every bad where of generated runbooks, and only those', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.boolean(), { minLength: 1, maxLength: 5 }),
        fc.constantFrom(') OR (true', '); DELETE FROM t; --', ') OR 1=1 OR ('),
        async (bad, tail) => {
          const steps = bad.map(b => step(b ? `is_active${tail}` : 'is_active'))
          const file = runbookFile({ 'url-env': 'DATABASE_URL', steps })
          const located = await loadLocatedRunbook(file)
          const err = await checkRunbookText(located).catch((e: unknown) => e)
          const expected = bad.flatMap((b, i) =>
            b ? [`database.steps[${i}].batch-update.where`] : []
          )
          if (expected.length === 0) return expect(err).toBeUndefined()
          expect((err as RunbookError).problems.map(p => p.path)).toEqual(expected)
        }
      ),
      { numRuns: 15 }
    )
  }, 60_000)
})

describe('field paths', () => {
  it('undotted is the inverse of dotted', () => {
    fc.assert(
      fc.property(
        fc
          .array(fc.oneof(fc.stringMatching(/^[a-z][a-z_-]{0,8}$/), fc.nat(99)), {
            minLength: 1,
            maxLength: 6
          })
          .filter(p => typeof p[0] === 'string'),
        path => expect(undotted(dotted(path))).toEqual(path)
      )
    )
  })

  it('a check error becomes the field it names and its fix', () => {
    const err = new RollbackError(
      'database.steps[0].sql: refusing "SET x": changes state',
      'change it'
    )
    expect(asFieldProblem(err, 'database.steps[0]')).toEqual({
      field: 'database.steps[0].sql',
      message: 'refusing "SET x": changes state; change it'
    })
    expect(() => asFieldProblem(new Error('boom'), 'x')).toThrow('boom')
  })
})
