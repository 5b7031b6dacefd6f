import { describe, expect, it } from '@jest/globals'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parse } from 'yaml'
import { INPUTS, OUTPUTS } from '../src/interface.js'
import { REQUEST_INPUTS } from '../src/request.js'
import { PHASE_MODULES } from '../src/phases/index.js'
import { BUNDLE_TIMEOUT_MS, builtBundle } from './support/bundle.js'

interface ActionYml {
  runs: { using: string; main: string }
  inputs: Record<string, { description: string; default?: string; required?: boolean }>
  outputs: Record<string, { description: string }>
}

const action = parse(readFileSync('action.yml', 'utf8')) as ActionYml

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

  it('the action entry reads every declared input', () => {
    const entry = code('src/index.ts')
    const byName = [...entry.matchAll(/\b(?:input|secret)\('([a-z-]+)'\)/g)].map(m => m[1]!)
    // The request inputs are read in one loop over the registry.
    expect(entry).toContain("for (const name of ['command', ...REQUEST_INPUTS] as const)")
    const read = new Set([...byName, 'command', ...REQUEST_INPUTS])
    expect([...read].sort()).toEqual(Object.keys(INPUTS).sort())
  })

  it('declares exactly the outputs the code sets', () => {
    expect(Object.keys(action.outputs).sort()).toEqual(Object.keys(OUTPUTS).sort())
    for (const [name, description] of Object.entries(OUTPUTS)) {
      expect(action.outputs[name]?.description).toBe(description)
    }
  })

  it('only the entry points read the environment or Actions inputs', () => {
    const offenders = readdirSync('src', { recursive: true, encoding: 'utf8' })
      .filter(f => f.endsWith('.ts') && !['index.ts', 'cli.ts'].includes(f))
      .filter(f => /process\.env|@actions\/core|@actions\/github/.test(code(join('src', f))))
    expect(offenders).toEqual([])
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
