import { describe, expect, it } from '@jest/globals'
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { INPUTS, OUTPUTS } from '../src/interface.js'

interface ActionYml {
  runs: { using: string; main: string }
  inputs: Record<string, { description: string; default?: string; required?: boolean }>
  outputs: Record<string, { description: string }>
}

const action = parse(readFileSync('action.yml', 'utf8')) as ActionYml

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

  it('declares exactly the outputs the code sets', () => {
    expect(Object.keys(action.outputs).sort()).toEqual(Object.keys(OUTPUTS).sort())
    for (const [name, description] of Object.entries(OUTPUTS)) {
      expect(action.outputs[name]?.description).toBe(description)
    }
  })

  it('reads inputs only through the registry in the entry point', () => {
    const entry = readFileSync('src/index.ts', 'utf8')
    const literalReads = [...entry.matchAll(/core\.getInput\(\s*'([^']+)'/g)].map(m => m[1])
    expect(literalReads).toEqual([])
  })
})
