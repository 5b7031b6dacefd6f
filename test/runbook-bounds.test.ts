/** The runbook loader is bounded on any input: size, encoding, file kind, nesting, aliases, errors. */
import { describe, expect, it } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import {
  loadRunbook,
  MAX_PRINTED_PROBLEMS,
  MAX_RUNBOOK_BYTES,
  parseRunbook,
  RunbookError
} from '../src/runbook/load.js'
import { validateRunbook } from '../src/runbook/validate.js'

const base = 'version: 1\nname: demo\n'

function refusal(run: () => unknown): RunbookError {
  try {
    run()
  } catch (err) {
    if (err instanceof RunbookError) return err
    throw err
  }
  throw new Error('expected the runbook to be refused')
}

async function refusedFile(file: string): Promise<RunbookError> {
  const err: unknown = await loadRunbook(file).then(
    () => new Error('expected the runbook to be refused'),
    (e: unknown) => e
  )
  if (err instanceof RunbookError) return err
  throw err as Error
}

const tmp = () => mkdtempSync(join(tmpdir(), 'runbook-bounds-'))

describe('durations are bounded per field', () => {
  it.each([
    [
      'monitor:\n  interval: 0s\n',
      'rollback.yml:4:13: monitor.interval: expected a duration from 1s to 1h'
    ],
    [
      'monitor:\n  duration: 99999999999h\n',
      'monitor.duration: expected a duration from 1s to 24h'
    ],
    [
      'verify:\n  checks:\n    - name: a\n      url: http://x\n      interval: 0ms\n',
      'verify.checks[0].interval: expected a duration from 100ms to 10m'
    ],
    [
      'database:\n  statement-timeout: 0s\n',
      'database.statement-timeout: expected a duration from 100ms to 6h'
    ],
    [
      'flags:\n  set: {A: "1"}\n  wait-timeout: 1ms\n',
      'flags.wait-timeout: expected a duration from 10s to 2h'
    ]
  ])('%s is refused', (yaml, line) => {
    expect(refusal(() => parseRunbook(base + yaml, 'rollback.yml')).message).toContain(line)
  })

  it('any interval within its bounds is accepted, any outside refused', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 7200 }), seconds => {
        const result = validateRunbook({
          version: 1,
          name: 'x',
          monitor: { interval: `${seconds}s` }
        })
        expect('runbook' in result).toBe(seconds >= 1 && seconds <= 3600)
      }),
      { numRuns: 200 }
    )
  })
})

describe('the runbook file', () => {
  it('a file over the size cap is refused before it is parsed', async () => {
    const file = join(tmp(), 'big.yml')
    writeFileSync(file, base + `description: "${'x'.repeat(MAX_RUNBOOK_BYTES)}"\n`)
    const err = await refusedFile(file)
    expect(err.message).toMatch(/big\.yml:1:1: \(top level\): the file is larger than 1024 KiB/)
  })

  it('a FIFO is refused at once instead of waiting for a writer', async () => {
    const fifo = join(tmp(), 'rollback.yml')
    execFileSync('mkfifo', [fifo])
    const started = Date.now()
    const err = await refusedFile(fifo)
    expect(err.message).toContain('not a regular file')
    expect(Date.now() - started).toBeLessThan(5000)
  })

  it('a directory is refused', async () => {
    expect((await refusedFile(tmp())).message).toMatch(/cannot open|not a regular file/)
  })

  it('text that is not UTF-8 is refused at the first bad byte', async () => {
    const file = join(tmp(), 'latin1.yml')
    writeFileSync(
      file,
      Buffer.concat([Buffer.from(base + 'description: caf'), Buffer.from([0xe9, 0x0a])])
    )
    const err = await refusedFile(file)
    expect(err.message).toBe(
      `${file}:3:17: (top level): not valid UTF-8 text: save the runbook as UTF-8`
    )
  })
})

describe('hostile YAML is an invalid runbook, in one line with its position', () => {
  const cases: [string, string, RegExp][] = [
    [
      'a raw NUL byte',
      base + 'description: a\0b\n',
      /^rollback\.yml:3:15: \(top level\): contains a NUL character/
    ],
    [
      'an escaped NUL',
      base + 'description: "a\\0b"\n',
      /^rollback\.yml:3:14: description: contains a NUL character/
    ],
    [
      'an unresolved alias',
      base + 'description: *nowhere\n',
      /^rollback\.yml:3:14: \(top level\): an alias \(\*name\) refers to no anchor/
    ],
    [
      'an alias bomb',
      base +
        'a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n',
      /^rollback\.yml:\d+:\d+: \(top level\): the YAML aliases expand too far/
    ],
    [
      'deep flow nesting',
      base + 'description: ' + '['.repeat(5000) + ']'.repeat(5000) + '\n',
      /^rollback\.yml:3:\d+: \(top level\): nested deeper than 64 levels/
    ],
    [
      'deep block nesting',
      base + Array.from({ length: 200 }, (_, i) => `${' '.repeat(i)}k:`).join('\n') + '\n',
      /^rollback\.yml:\d+:\d+: \(top level\): nested deeper than 64 levels/
    ]
  ]
  it.each(cases)('%s', (_what, yaml, line) => {
    const err = refusal(() => parseRunbook(yaml, 'rollback.yml'))
    expect(err.message.split('\n')).toHaveLength(1)
    expect(err.message).toMatch(line)
  })
})

describe('many problems', () => {
  it('thousands of unknown keys are validated in linear time and printed capped', () => {
    const yaml = base + Array.from({ length: 30_000 }, (_, i) => `k${i}: 1\n`).join('')
    const started = Date.now()
    const err = refusal(() => parseRunbook(yaml, 'rollback.yml'))
    // Quadratic, this took minutes; linear, a few seconds even on a busy machine.
    expect(Date.now() - started).toBeLessThan(30_000)
    const lines = err.message.split('\n')
    expect(lines).toHaveLength(MAX_PRINTED_PROBLEMS + 1)
    expect(lines.at(-1)).toBe(`and ${30_000 - MAX_PRINTED_PROBLEMS} more problem(s)`)
    expect(err.total).toBe(30_000)
  }, 60_000)
})

describe('credentials', () => {
  it.each([
    'AWS_SECRET_ACCESS_KEY',
    'STRIPE_API_KEY',
    'DB_PASSWORD',
    'CLIENT_SECRET',
    'SLACK_AUTH_TOKEN'
  ])('a flag named %s is refused as a credential', name => {
    const err = refusal(() =>
      parseRunbook(base + `flags:\n  set:\n    ${name}: "x"\n`, 'rollback.yml')
    )
    expect(err.message).toContain(`"${name}" looks like a credential`)
  })

  it('a key that is a credential is refused and never echoed, nor its path', () => {
    const token = 'ghp_' + 'A1b2C3d4'.repeat(5)
    const err = refusal(() =>
      parseRunbook(base + `flags:\n  set:\n    ${token}: "x"\n`, 'rollback.yml')
    )
    expect(err.message).not.toContain(token)
    expect(err.message).toContain('this key looks like a GitHub token')
    const unknown = refusal(() => parseRunbook(base + `${token}: 1\n`, 'rollback.yml'))
    expect(unknown.message).not.toContain(token)
    expect(unknown.problems.map(p => p.path + p.message).join()).not.toContain(token)
  })
})
