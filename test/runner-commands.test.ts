/**
 * The action's bundle speaks to the runner through src/runner/actions-core.ts, not @actions/core's
 * entry (which would load its HTTP client at every start). What reaches the runner must not
 * differ: for generated messages, names and values, each function writes the same bytes to
 * stdout and to the GITHUB_OUTPUT file as @actions/core's, and reads inputs the same way.
 */
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals'
import * as core from '@actions/core'
import fc from 'fast-check'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as runner from '../src/runner/actions-core.js'
import type { RunnerCommands } from '../src/runner/actions-core.js'

const dir = mkdtempSync(join(tmpdir(), 'runner-commands-'))
const saved = { ...process.env }
const savedExitCode = process.exitCode

beforeEach(() => {
  delete process.env.GITHUB_OUTPUT
})
afterEach(() => {
  process.env = { ...saved }
  process.exitCode = savedExitCode
})

/** Text with what workflow commands must escape: %, CR, LF, ':' and ',' (in properties). */
const text = fc.string({
  unit: fc.oneof(
    fc.constantFrom('%', '\r', '\n', ':', ',', '::', '%0A', ' ', '\u2028', 'é', '🙂'),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })
  ),
  maxLength: 40
})
const properties = fc.record(
  {
    title: text,
    file: text,
    startLine: fc.nat(),
    endLine: fc.nat(),
    startColumn: fc.nat(),
    endColumn: fc.nat()
  },
  { requiredKeys: [] }
)

/** stdout and the GITHUB_OUTPUT file while `call` runs with one implementation. */
function written(impl: RunnerCommands, call: (impl: RunnerCommands) => void) {
  const output = join(dir, `output-${Math.random().toString(36).slice(2)}`)
  writeFileSync(output, '')
  process.env.GITHUB_OUTPUT = output
  const chunks: string[] = []
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation(chunk => {
    chunks.push(String(chunk))
    return true
  })
  try {
    call(impl)
  } finally {
    spy.mockRestore()
  }
  const file = readFileSync(output, 'utf8')
  rmSync(output)
  // Each file command picks a random heredoc delimiter: compare what it delimits.
  return { stdout: chunks.join(''), file: file.replace(/ghadelimiter_[0-9a-f-]+/g, 'DELIMITER') }
}

function sameAsActionsCore(call: (impl: RunnerCommands) => void): void {
  expect(written(runner, call)).toEqual(written(core, call))
}

describe('the runner commands write what @actions/core writes', () => {
  it('annotations, with and without properties', () => {
    fc.assert(
      fc.property(text, properties, (message, props) => {
        sameAsActionsCore(c => c.error(message, props))
        sameAsActionsCore(c => c.warning(message, props))
        sameAsActionsCore(c => c.error(message))
        sameAsActionsCore(c => c.warning(message))
      })
    )
  })

  it('log lines, debug lines and masks', () => {
    fc.assert(
      fc.property(text, message => {
        sameAsActionsCore(c => c.info(message))
        sameAsActionsCore(c => c.debug(message))
        sameAsActionsCore(c => c.setSecret(message))
      })
    )
  })

  it('outputs, through the GITHUB_OUTPUT file', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/),
        text.filter(v => !v.includes('ghadelimiter_')),
        (name, value) => {
          const ours = written(runner, c => c.setOutput(name, value))
          expect(ours.file).toContain(value)
          expect(ours).toEqual(written(core, c => c.setOutput(name, value)))
        }
      )
    )
  })

  it('outputs without a GITHUB_OUTPUT file: the legacy command', () => {
    const legacy = (impl: RunnerCommands) => {
      const chunks: string[] = []
      const spy = jest.spyOn(process.stdout, 'write').mockImplementation(chunk => {
        chunks.push(String(chunk))
        return true
      })
      try {
        delete process.env.GITHUB_OUTPUT
        impl.setOutput('status', 'planned\n%done')
      } finally {
        spy.mockRestore()
      }
      return chunks.join('')
    }
    expect(legacy(runner)).toContain('::set-output name=status::planned%0A%25done')
    expect(legacy(runner)).toBe(legacy(core))
  })

  it('a failure: the same annotation and exit code 1', () => {
    fc.assert(
      fc.property(text, message => {
        process.exitCode = 0
        const ours = written(runner, c => c.setFailed(message))
        expect(process.exitCode).toBe(1)
        process.exitCode = 0
        expect(ours).toEqual(written(core, c => c.setFailed(message)))
        expect(process.exitCode).toBe(1)
        process.exitCode = 0
      })
    )
  })

  it('inputs: INPUT_<NAME> (spaces as underscores, upper case), trimmed, empty when unset', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z][a-z -]{0,15}$/), text, (name, value) => {
        const variable = `INPUT_${name.replace(/ /g, '_').toUpperCase()}`
        process.env[variable] = value
        expect(runner.getInput(name)).toBe(core.getInput(name))
        delete process.env[variable]
        expect(runner.getInput(name)).toBe('')
        expect(core.getInput(name)).toBe('')
      })
    )
  })

  it('the job summary is @actions/core’s own', () => {
    expect(runner.summary).toBe(core.summary)
  })
})
