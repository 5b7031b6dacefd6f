import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { InputError, parseLockWait, parseRequest, type RawInputs } from '../src/request.js'

const parse = (raw: RawInputs) => parseRequest(raw, { kind: 'cli' }, 'r1')

function problemsOf(raw: RawInputs): string[] {
  try {
    parse(raw)
  } catch (err) {
    if (err instanceof InputError) return err.problems
    throw err
  }
  throw new Error('expected the inputs to be rejected')
}

describe('parseRequest', () => {
  it.each<[string, RawInputs, string]>([
    ['unknown command', { command: 'apply' }, 'command: "apply" is not one of plan, run, drill'],
    ['run without severity', { command: 'run' }, 'severity: required for command run'],
    [
      'unknown severity',
      { severity: 'urgent' },
      'severity: "urgent" is not one of critical, high, medium, low'
    ],
    ['unknown phase', { phases: 'git, dns' }, 'phases: unknown phase(s) dns'],
    [
      'unknown strategy',
      { 'git-strategy': 'rebase' },
      'git-strategy: "rebase" is not revert or reset'
    ],
    [
      'branch names in a range',
      { revert: 'main~3..main' },
      'revert: "main~3", "main" is not a commit SHA'
    ],
    ['three-dot range', { revert: 'abc1234...def5678' }, 'revert: "abc1234...def5678" uses "..."'],
    [
      'reset to a tag',
      { 'git-strategy': 'reset', 'reset-to': 'v1.2.3' },
      'reset-to: "v1.2.3" is not a commit SHA'
    ],
    [
      'reset without target',
      { 'git-strategy': 'reset' },
      'reset-to: required when git-strategy is reset'
    ],
    [
      'reset run without confirm',
      { command: 'run', severity: 'critical', 'git-strategy': 'reset', 'reset-to': 'abcdef1' },
      'confirm: a reset discards commits'
    ],
    [
      'short confirm',
      { 'git-strategy': 'reset', 'reset-to': 'abcdef1', confirm: 'abc' },
      'confirm: repeat the reset-to SHA (at least 7 hex characters)'
    ],
    [
      'reset-to with revert',
      { 'git-strategy': 'revert', 'reset-to': 'abcdef1' },
      'reset-to: only used with git-strategy reset'
    ],
    ['bad branch', { branch: '-delete' }, 'branch: "-delete" is not a valid branch name']
  ])('rejects %s', (_name, raw, expected) => {
    const problems = problemsOf(raw)
    expect(problems).toHaveLength(1)
    expect(problems[0]).toContain(expected)
  })

  it('suggests the value meant for a typo, as a comment does (critcal, plna, rset, gti)', () => {
    expect(problemsOf({ command: 'run', severity: 'critcal' })).toEqual([
      'severity: "critcal" is not one of critical, high, medium, low (did you mean "critical"?)'
    ])
    expect(problemsOf({ command: 'plna' })).toEqual([
      'command: "plna" is not one of plan, run, drill (did you mean "plan"?)'
    ])
    expect(problemsOf({ 'git-strategy': 'rset', 'reset-to': 'abcdef1' })).toEqual([
      'git-strategy: "rset" is not revert or reset (did you mean "reset"?)'
    ])
    expect(problemsOf({ phases: 'gti,notify,xyzzy' })).toEqual([
      expect.stringMatching(
        /^phases: unknown phase\(s\) gti \(did you mean "git"\?\), xyzzy; choose from /
      )
    ])
  })

  it('reset-to without a strategy asks for a reset (never the runbook revert)', () => {
    expect(parse({ command: 'plan', 'reset-to': 'abcdef1' }).gitStrategy).toBe('reset')
    expect(problemsOf({ command: 'run', severity: 'critical', 'reset-to': 'abcdef1' })).toEqual([
      'confirm: a reset discards commits; set confirm to the reset-to SHA to proceed'
    ])
    expect(problemsOf({ 'reset-to': 'abcdef1', revert: 'abcdef1..1234567' })).toEqual([
      'revert: give either revert (Option B) or reset-to (Option A), not both'
    ])
  })

  it('a reset drill needs no reset-to: it takes the runbook drill range', () => {
    expect(parse({ command: 'drill', 'git-strategy': 'reset' })).toMatchObject({
      command: 'drill',
      gitStrategy: 'reset',
      resetTo: undefined
    })
  })

  it('an explicit reset given commits to revert too is refused, not run without them', () => {
    expect(
      problemsOf({
        'git-strategy': 'reset',
        'reset-to': 'abcdef1',
        confirm: 'abcdef1',
        revert: 'abcdef1..1234567'
      })
    ).toEqual(['revert: give either revert (Option B) or reset-to (Option A), not both'])
  })

  it('collects every problem at once', () => {
    expect(problemsOf({ command: 'x', severity: 'y', branch: '..' })).toHaveLength(3)
  })

  it('accepts a full reset request and normalises SHAs', () => {
    const request = parse({
      command: 'run',
      severity: 'high',
      phases: 'git files',
      'git-strategy': 'reset',
      'reset-to': 'ABCDEF1234',
      confirm: 'abcdef1',
      branch: 'release/1.x'
    })
    expect(request).toMatchObject({
      command: 'run',
      severity: 'high',
      phases: ['git', 'files'],
      gitStrategy: 'reset',
      resetTo: 'abcdef1234',
      confirm: 'abcdef1',
      branch: 'release/1.x',
      runId: 'r1'
    })
  })

  it('treats empty inputs (as Actions passes them) as unset', () => {
    const request = parse({ command: '', severity: '', phases: '', revert: '' })
    expect(request.command).toBe('plan')
    expect(request.phases).toBeUndefined()
    expect(request.revert).toBeUndefined()
  })
})

describe('inputs that select nothing or carry credentials', () => {
  it('phases made only of separators is refused: it would select nothing', () => {
    expect(problemsOf({ phases: ',,,' })).toEqual([
      'phases: ",,," names no phase, so nothing would be selected; choose from flags, verify, database, git, schema, integrity, files, monitor, notify or leave it empty for all'
    ])
  })

  it('a value that looks like a credential is never repeated in a problem', () => {
    const token = 'ghp_' + 'Ab12'.repeat(8)
    const problems = problemsOf({ revert: token, branch: `x..${token}` })
    expect(problems.join('\n')).not.toContain(token)
    expect(problems[0]).toContain('revert: "***" is not a commit SHA')
  })
})

describe('lock-wait', () => {
  it('is 0 unless given, and takes durations up to 2h', () => {
    expect(parseLockWait(undefined)).toBe(0)
    expect(parseLockWait('')).toBe(0)
    expect(parseLockWait('0')).toBe(0)
    expect(parseLockWait(' 30m ')).toBe(30 * 60_000)
    expect(parseLockWait('2h')).toBe(2 * 3_600_000)
    expect(parseLockWait('90s')).toBe(90_000)
  })

  it('refuses anything else, naming the input and the form', () => {
    for (const bad of ['121m', '3h', '30', 'forever', '-5m', '1.5h', '30 m', '1d']) {
      expect(() => parseLockWait(bad)).toThrow(
        new RegExp(`^lock-wait: "${bad.replace('.', '\\.')}" is not 0 or a duration up to 2h`)
      )
    }
  })

  it('any whole duration within the bound is taken as written; beyond it, refused', () => {
    const units = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const
    fc.assert(
      fc.property(
        fc.nat({ max: 10_000_000 }),
        fc.constantFrom(...(Object.keys(units) as (keyof typeof units)[])),
        (n, unit) => {
          const ms = n * units[unit]
          if (ms <= 2 * 3_600_000) expect(parseLockWait(`${n}${unit}`)).toBe(ms)
          else expect(() => parseLockWait(`${n}${unit}`)).toThrow(InputError)
        }
      )
    )
  })
})
