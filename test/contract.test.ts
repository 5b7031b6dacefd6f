import { describe, expect, it, jest } from '@jest/globals'
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parse } from 'yaml'
import { INPUTS, OUTPUTS } from '../src/interface.js'
import { PHASE_MODULES } from '../src/phases/index.js'
import { BUNDLE_TIMEOUT_MS, builtBundle } from './support/bundle.js'

interface ActionYml {
  runs: { using: string; main: string }
  inputs: Record<string, { description: string; default?: string; required?: boolean }>
  outputs: Record<string, { description: string }>
}

const action = parse(readFileSync('action.yml', 'utf8')) as ActionYml

/** What the entry asked of @actions/core while it planned the example runbook. */
const calls = {
  inputsRead: [] as string[],
  outputs: {} as Record<string, string>,
  failed: [] as string[]
}
const quiet = () => {}
jest.unstable_mockModule('@actions/core', () => ({
  getInput: (name: string) => {
    calls.inputsRead.push(name)
    const given: Record<string, string> = {
      runbook: 'examples/streaming-migration/rollback.yml',
      command: 'plan',
      // Phases that need no checkout or secrets: this test is about the interface, not the plan.
      phases: 'verify',
      'github-token': 'ghs_contract_token'
    }
    return given[name] ?? ''
  },
  setOutput: (name: string, value: string) => {
    calls.outputs[name] = value
  },
  setFailed: (message: string) => calls.failed.push(message),
  setSecret: quiet,
  info: quiet,
  debug: quiet,
  warning: quiet,
  error: quiet,
  summary: { addRaw: () => ({ write: async () => {} }) }
}))

/** Runs the entry once with this environment (the runner's variables for one event). */
async function entry(env: Record<string, string>) {
  const saved = { ...process.env }
  const temp = mkdtempSync(join(tmpdir(), 'contract-'))
  process.env.RUNNER_TEMP = temp
  process.env.GITHUB_WORKSPACE = process.cwd()
  for (const key of [
    'GITHUB_REPOSITORY',
    'GITHUB_EVENT_PATH',
    'GITHUB_RUN_ID',
    'GITHUB_EVENT_NAME'
  ])
    delete process.env[key]
  Object.assign(process.env, env)
  try {
    const { run } = await import('../src/main.js')
    await run()
  } finally {
    process.env = saved
  }
  return calls
}

const entryPlan = () => entry({ GITHUB_EVENT_NAME: 'workflow_dispatch' })

/** A comment that is not a command: the ChatOps path reads its inputs, then ignores it. */
async function entryComment() {
  const event = join(mkdtempSync(join(tmpdir(), 'contract-event-')), 'event.json')
  writeFileSync(event, JSON.stringify({ action: 'created', comment: { id: 1, body: 'thanks!' } }))
  return entry({
    GITHUB_EVENT_NAME: 'issue_comment',
    GITHUB_EVENT_PATH: event,
    GITHUB_REPOSITORY: 'acme/app',
    GITHUB_API_URL: 'http://127.0.0.1:9'
  })
}

/** A source file without its comments (which may name what the code must not touch). */
const code = (file: string) =>
  readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '')

describe('action.yml contract', () => {
  it('runs the bundled entry on node24', () => {
    expect(action.runs).toEqual({ using: 'node24', main: 'dist/index.js' })
  })

  it('declares exactly the inputs the code reads, with the same descriptions and defaults', () => {
    expect(Object.keys(action.inputs).sort()).toEqual(Object.keys(INPUTS).sort())
    for (const [name, spec] of Object.entries(INPUTS)) {
      expect({
        name,
        description: action.inputs[name]?.description,
        default: action.inputs[name]?.default ?? ''
      }).toEqual({
        name,
        description: spec.description,
        default: spec.default
      })
    }
  })

  it('the action entry reads every declared input and sets only declared outputs', async () => {
    const run = await entryPlan()
    expect(Object.keys(run.outputs).every(name => name in OUTPUTS)).toBe(true)
    // A plan has a status and a report; the git, flags and notify outputs come from a run.
    // The environment is always set (empty: none for the severity): the workflow's gate reads it.
    expect(run.outputs).toMatchObject({
      status: 'planned',
      report: expect.any(String),
      environment: ''
    })
    expect(run.failed).toEqual([])
    const plain = new Set(run.inputsRead)
    // The ChatOps inputs are read for comments (a comment that is no command is ignored).
    calls.outputs = {}
    const comment = await entryComment()
    expect(comment.outputs).toEqual({ status: 'ignored' })
    expect(comment.failed).toEqual([])
    expect([...new Set([...plain, ...comment.inputsRead])].sort()).toEqual(
      Object.keys(INPUTS).sort()
    )
  })

  it('declares exactly the outputs the code sets', () => {
    expect(Object.keys(action.outputs).sort()).toEqual(Object.keys(OUTPUTS).sort())
    for (const [name, description] of Object.entries(OUTPUTS)) {
      expect(action.outputs[name]?.description).toBe(description)
    }
  })

  it('only the entry points read the environment or Actions inputs', () => {
    const offenders = readdirSync('src', { recursive: true, encoding: 'utf8' })
      .filter(f => f.endsWith('.ts') && !['index.ts', 'main.ts', 'cli.ts'].includes(f))
      // The action entry's side of @actions/core (test/runner-commands.test.ts).
      .filter(f => f !== join('runner', 'actions-core.ts'))
      .filter(f => /process\.env|@actions\/core/.test(code(join('src', f))))
    expect(offenders).toEqual([])
    // Octokit is built in one place, from typed options.
    const octokit = readdirSync('src', { recursive: true, encoding: 'utf8' })
      .filter(f => f.endsWith('.ts'))
      .filter(f => /@actions\/github/.test(code(join('src', f))))
    expect(octokit).toEqual([join('github', 'octokit.ts')])
  })

  it(
    'the bundles under test are built from the current sources, not taken from dist/',
    async () => {
      const bundle = await builtBundle()
      // .ci/run points the tests at dist/ only after rebuilding it and finding no difference.
      const checkedByCi = process.env.ER_TEST_BUNDLE_DIR !== undefined
      expect(bundle === resolve('dist')).toBe(checkedByCi)
      expect(readFileSync(join(bundle, 'index.js'), 'utf8')).toContain(OUTPUTS['incident-issue'])
    },
    BUNDLE_TIMEOUT_MS
  )

  it(
    'the bundles are CommonJS without zod; the CLI is executable',
    async () => {
      // Built from the current sources (the committed dist/ is compared by .ci/run).
      const dist = await builtBundle()
      expect(JSON.parse(readFileSync(join(dist, 'package.json'), 'utf8'))).toEqual({
        type: 'commonjs'
      })
      expect(readFileSync(join(dist, 'index.js'), 'utf8')).not.toMatch(/ZodObject|\$ZodType/)
      const cli = join(dist, 'cli', 'index.js')
      expect(readFileSync(cli, 'utf8').startsWith('#!/usr/bin/env node')).toBe(true)
      expect(statSync(cli).mode & 0o111).not.toBe(0)
    },
    BUNDLE_TIMEOUT_MS
  )

  it('phases that share the checkout or the database take turns in preflight', () => {
    const shares = Object.values(PHASE_MODULES)
      .filter(m => m.preflightShares)
      .map(m => `${m.phase}:${m.preflightShares}`)
    expect(shares.sort()).toEqual([
      'database:database',
      'files:checkout',
      'git:checkout',
      'integrity:database',
      'schema:database'
    ])
  })
})
