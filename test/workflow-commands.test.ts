/**
 * The action's own runner protocol must write exactly what @actions/core writes for the same
 * calls: the runner parses these bytes (masks, annotations on the right line, outputs).
 */
import * as core from '@actions/core'
import { jest } from '@jest/globals'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { WorkflowCommands } from '../src/workflow-commands.js'

const awkward = 'a%b\r\nc:d,e::f'

type Script = (c: {
  setSecret(v: string): void
  info(m: string): void
  debug(m: string): void
  warning(m: string, p?: core.AnnotationProperties): void
  error(m: string, p?: core.AnnotationProperties): void
  setOutput(n: string, v: string): void
}) => void

const scripts: Record<string, Script> = {
  'masks, logs and annotations': c => {
    c.setSecret('s3cr%t\nline two')
    c.info(awkward)
    c.debug(awkward)
    c.warning(awkward)
    c.error(awkward, {
      title: 'Invalid: runbook, v1',
      file: 'a,b:c.yml',
      startLine: 3,
      startColumn: 7
    })
    c.error('line only', { file: 'x.yml', startLine: 1 })
    c.warning('zero column is left out', { file: 'x.yml', startLine: 2, startColumn: 0 })
  },
  'outputs without GITHUB_OUTPUT': c => {
    c.setOutput('status', 'planned')
    c.setOutput('report', awkward)
  }
}

/** Runs `script` against @actions/core, with the same environment, capturing stdout. */
function viaCore(script: Script, env: Record<string, string | undefined>): string {
  const saved = { ...process.env }
  const out: string[] = []
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation(chunk => {
    out.push(String(chunk))
    return true
  })
  try {
    for (const key of ['GITHUB_OUTPUT', 'GITHUB_STEP_SUMMARY']) delete process.env[key]
    Object.assign(process.env, env)
    script(core)
  } finally {
    spy.mockRestore()
    process.env = saved
  }
  return out.join('')
}

function viaOurs(script: Script, env: Record<string, string | undefined>): string {
  const out: string[] = []
  script(new WorkflowCommands(env, text => out.push(text)))
  return out.join('')
}

describe('WorkflowCommands writes what @actions/core writes', () => {
  for (const [name, script] of Object.entries(scripts)) {
    test(name, () => {
      const expected = viaCore(script, {})
      expect(expected.length).toBeGreaterThan(0)
      expect(viaOurs(script, {})).toBe(expected)
    })
  }

  test('outputs through GITHUB_OUTPUT (same heredoc format, fresh delimiter each time)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wfc-'))
    const files = { core: join(dir, 'core'), ours: join(dir, 'ours') }
    writeFileSync(files.core, '')
    writeFileSync(files.ours, '')
    const script: Script = c => {
      c.setOutput('status', 'succeeded')
      c.setOutput('report', `{\n  "x": "${awkward}"\n}`)
    }
    expect(viaCore(script, { GITHUB_OUTPUT: files.core })).toBe('')
    expect(viaOurs(script, { GITHUB_OUTPUT: files.ours })).toBe('')
    const delimiters = (text: string) => text.match(/ghadelimiter_[0-9a-f-]{36}/g) ?? []
    const ours = readFileSync(files.ours, 'utf8')
    expect(new Set(delimiters(ours)).size).toBe(2)
    const normal = (text: string) => text.replace(/ghadelimiter_[0-9a-f-]{36}/g, 'DELIM')
    expect(normal(ours)).toBe(normal(readFileSync(files.core, 'utf8')))
  })

  test('the summary is appended; a missing or unset summary file is an error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wfc-'))
    const file = join(dir, 'summary.md')
    writeFileSync(file, 'before\n')
    new WorkflowCommands({ GITHUB_STEP_SUMMARY: file }).appendSummary('| a |\n')
    expect(readFileSync(file, 'utf8')).toBe('before\n| a |\n')
    expect(() => new WorkflowCommands({}).appendSummary('x')).toThrow(/GITHUB_STEP_SUMMARY/)
    const missing = new WorkflowCommands({ GITHUB_STEP_SUMMARY: join(dir, 'nope', 's.md') })
    expect(() => missing.appendSummary('x')).toThrow(/Unable to access summary file/)
  })

  test('inputs: INPUT_<NAME> with spaces as underscores, trimmed, empty when unset', () => {
    const c = new WorkflowCommands({ 'INPUT_RESET-TO': '  abc \n', INPUT_MY_INPUT: 'v' })
    expect(c.getInput('reset-to')).toBe('abc')
    expect(c.getInput('my input')).toBe('v')
    expect(c.getInput('missing')).toBe('')
  })
})
