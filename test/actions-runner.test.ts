/**
 * src/actions-runner.ts speaks the runner protocol as `@actions/core` does: the same bytes on
 * stdout and in the output and summary files, for generated messages, names and values.
 */
import { afterEach, describe, expect, it, jest } from '@jest/globals'
import * as core from '@actions/core'
import fc from 'fast-check'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as runner from '../src/actions-runner.js'
import { parseOutputFile } from './support/action-runner.js'

const dir = mkdtempSync(join(tmpdir(), 'actions-runner-'))
const saved = { ...process.env }
afterEach(() => {
  process.env = { ...saved }
  process.exitCode = undefined
})

/** What `fn` wrote to stdout. */
function stdoutOf(fn: () => void): string {
  const out: string[] = []
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation(chunk => {
    out.push(String(chunk))
    return true
  })
  try {
    fn()
  } finally {
    spy.mockRestore()
  }
  return out.join('')
}

/** Text the runner's commands must survive: escapes, separators, line breaks, non-ASCII. */
const text = fc.string({
  unit: fc.oneof(
    fc.constantFrom('%', '\r', '\n', ':', ',', '=', '<', ' ', '::', '%25', 'é', '💥'),
    fc.string({ minLength: 1, maxLength: 1, unit: 'grapheme' })
  ),
  maxLength: 40
})
const annotation = fc.record(
  {
    title: text,
    file: text,
    startLine: fc.nat({ max: 5000 }),
    startColumn: fc.nat({ max: 200 })
  },
  { requiredKeys: [] }
)

describe('the runner protocol without @actions/core', () => {
  it('writes the same workflow commands and log lines', () => {
    fc.assert(
      fc.property(text, annotation, (message, properties) => {
        const same = (ours: () => void, theirs: () => void) =>
          expect(stdoutOf(ours)).toBe(stdoutOf(theirs))
        same(
          () => runner.info(message),
          () => core.info(message)
        )
        same(
          () => runner.debug(message),
          () => core.debug(message)
        )
        same(
          () => runner.setSecret(message),
          () => core.setSecret(message)
        )
        same(
          () => runner.warning(message),
          () => core.warning(message)
        )
        same(
          () => runner.error(message, properties),
          () => core.error(message, properties)
        )
        same(
          () => runner.warning(message, properties),
          () => core.warning(message, properties)
        )
        same(
          () => runner.setFailed(message),
          () => core.setFailed(message)
        )
        expect(process.exitCode).toBe(1)
      })
    )
  })

  it('reads inputs as @actions/core does', () => {
    fc.assert(
      fc.property(text, fc.constantFrom('runbook', 'git-strategy', 'chatops reply'), (v, name) => {
        process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = v
        expect(runner.getInput(name)).toBe(core.getInput(name))
      })
    )
    delete process.env.INPUT_RUNBOOK
    expect(runner.getInput('runbook')).toBe('')
  })

  it('appends outputs the runner reads back as @actions/core’s, and the old command without a file', () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/)
    fc.assert(
      fc.property(name, text, (key, value) => {
        const [ours, theirs] = ['ours', 'theirs'].map(who => {
          const file = join(mkdtempSync(join(dir, `${who}-`)), 'output')
          writeFileSync(file, '')
          return file
        })
        process.env.GITHUB_OUTPUT = ours
        runner.setOutput(key, value)
        process.env.GITHUB_OUTPUT = theirs
        core.setOutput(key, value)
        const read = (file: string) => parseOutputFile(readFileSync(file, 'utf8'))
        expect(read(ours!)).toEqual(read(theirs!))
        expect(read(ours!)).toEqual({ [key]: value })
        delete process.env.GITHUB_OUTPUT
        expect(stdoutOf(() => runner.setOutput(key, value))).toBe(
          stdoutOf(() => core.setOutput(key, value))
        )
      })
    )
  })

  it('keeps a value that holds the delimiter it would have used in one entry', () => {
    const file = join(dir, 'tricky-output')
    writeFileSync(file, '')
    process.env.GITHUB_OUTPUT = file
    const value = 'a\nghadelimiter_\nreport<<x\nb'
    runner.setOutput('status', value)
    expect(parseOutputFile(readFileSync(file, 'utf8'))).toEqual({ status: value })
  })

  it('fails on a missing output file as @actions/core does', () => {
    process.env.GITHUB_OUTPUT = join(dir, 'no-such-output')
    expect(() => runner.setOutput('status', 'x')).toThrow(
      new Error(`Missing file at path: ${process.env.GITHUB_OUTPUT}`)
    )
  })

  it('appends the job summary, and fails as @actions/core does without one', async () => {
    const file = join(dir, 'summary.md')
    writeFileSync(file, '# before\n')
    process.env.GITHUB_STEP_SUMMARY = file
    await runner.summary.addRaw('| a |\n').write()
    await core.summary.addRaw('| a |\n').write()
    expect(readFileSync(file, 'utf8')).toBe('# before\n| a |\n| a |\n')
    delete process.env.GITHUB_STEP_SUMMARY
    await expect(runner.summary.addRaw('x').write()).rejects.toThrow(
      /Unable to find environment variable for \$GITHUB_STEP_SUMMARY/
    )
    process.env.GITHUB_STEP_SUMMARY = join(dir, 'no-such-summary.md')
    await expect(runner.summary.addRaw('x').write()).rejects.toThrow(
      /Unable to access summary file: '.*no-such-summary.md'/
    )
  })
})
