import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { MAX_COMMAND_LENGTH, parseChatOpsComment } from '../src/chatops/parse.js'
import { parseRequest } from '../src/request.js'

const reasonOf = (body: string) => {
  const parsed = parseChatOpsComment(body)
  return parsed.kind === 'invalid' ? parsed.reason : `(${parsed.kind})`
}

describe('parseChatOpsComment', () => {
  it('ignores comments that are not the command', () => {
    // Leading spaces included: the callers' startsWith trims nothing, and neither does the parser.
    for (const body of ['looks good, /rollback later?', '', 'rollback run', ' /rollback run'])
      expect(parseChatOpsComment(body)).toEqual({ kind: 'not-a-command' })
  })

  it('parses command, severity and key=value pairs from the first line only', () => {
    expect(
      parseChatOpsComment(
        '/rollback run critical revert=abc1234..def5678 phases=git,files strategy=revert\nthanks!'
      )
    ).toEqual({
      kind: 'command',
      inputs: {
        command: 'run',
        severity: 'critical',
        revert: 'abc1234..def5678',
        phases: 'git,files',
        'git-strategy': 'revert'
      }
    })
  })

  it('defaults to plan, also when only a severity is given', () => {
    expect(parseChatOpsComment('/rollback  ')).toEqual({
      kind: 'command',
      inputs: { command: 'plan' }
    })
    expect(parseChatOpsComment('/rollback high')).toEqual({
      kind: 'command',
      inputs: { command: 'plan', severity: 'high' }
    })
  })

  it("reads the trigger word in any case, as the callers' startsWith does", () => {
    for (const trigger of ['/Rollback', '/ROLLBACK', '/rollBack'])
      expect(parseChatOpsComment(`${trigger} run critical`)).toEqual({
        kind: 'command',
        inputs: { command: 'run', severity: 'critical' }
      })
  })

  it.each([
    ['/rolback run critical', '"/rolback" is not the command', '/rollback run critical'],
    ['/rollbak plan', '"/rollbak" is not the command', '/rollback plan'],
    ['/rollbackplan', '"/rollbackplan" is not the command', '/rollback plan'],
    ['/Rollback:run high', 'a command starts with /rollback and a space', '/rollback run high'],
    ['/rollbacks run', '"/rollbacks" is not the command', '/rollback run'],
    ['/rol', '"/rol" is not the command', '/rollback']
  ])('answers the near miss %j with the right syntax', (body, reason, meant) => {
    expect(reasonOf(body)).toContain(reason)
    expect(reasonOf(body)).toContain(`did you mean "${meant}"?`)
  })

  it('never repeats markup or mentions from a near miss in its answer', () => {
    const reason = reasonOf('/rolback @octocat [x](https://evil.example) **run**')
    expect(reason).toContain('did you mean "/rollback"?')
    expect(reason).not.toMatch(/@octocat|evil|\*\*/)
  })

  it('never repeats a mention, markup or a link from any word of a refused command', () => {
    const unsafe = fc.oneof(
      fc.stringMatching(/^@[a-z][a-z0-9-]{0,10}$/),
      fc.webUrl(),
      fc.stringMatching(/^www\.[a-z]{1,8}\.com$/),
      fc.stringMatching(/^[a-z]{1,6}[*~[\]<>!#|][a-z]{0,6}$/)
    )
    const key = (word: string) => `${word.replace(/=/g, '')}=x`
    fc.assert(
      fc.property(unsafe, fc.constantFrom('word', 'key', 'first'), (word, where) => {
        const body =
          where === 'first'
            ? `/rollback ${word}`
            : where === 'word'
              ? `/rollback plan ${word}`
              : `/rollback plan ${key(word)}`
        const parsed = parseChatOpsComment(body)
        if (parsed.kind !== 'invalid') return
        const echoed = where === 'key' ? key(word).slice(0, -2) : word
        expect(parsed.reason).not.toContain(echoed)
      })
    )
  })

  it.each(['\n', '\r', '\r\n', '\u2028', '\u2029', '\v', '\f', '\u0085'])(
    'any line separator ends the command (%j)',
    separator => {
      expect(parseChatOpsComment(`/rollback plan${separator}run critical`)).toEqual({
        kind: 'command',
        inputs: { command: 'plan' }
      })
      expect(parseChatOpsComment(`/rollback run high${separator}$(rm -rf /)`)).toEqual({
        kind: 'command',
        inputs: { command: 'run', severity: 'high' }
      })
    }
  )

  it.each(['\n', '\r\n', '\u2028', '\u2029', '\v', '\f', '\u0085'])(
    "a command below an empty first line is no command (%j), as the callers' startsWith sees it",
    separator => {
      expect(parseChatOpsComment(`${separator}/rollback run critical`)).toEqual({
        kind: 'not-a-command'
      })
      expect(parseChatOpsComment(`  ${separator}  /rollback run critical`)).toEqual({
        kind: 'not-a-command'
      })
    }
  )

  it.each([
    ['/rollback deploy', '"deploy" is not a command or a severity'],
    ['/rollback critcal', 'did you mean "critical"?'],
    ['/rollback run critcal', 'did you mean "critical"?'],
    ['/rollback run stratgy=reset', 'did you mean "strategy"?'],
    ['/rollback run runbook=../pr/evil.yml', '"runbook" is not a key a comment may set'],
    ['/rollback run github-token=x', '"github-token" is not a key'],
    ['/rollback run revert=$(curl evil)', 'shell syntax'],
    ['/rollback run revert=`id`', 'shell syntax'],
    ['/rollback run revert=${{ secrets.TOKEN }}', 'expressions'],
    ['/rollback run revert="a b"', 'revert: give one plain value'],
    ['/rollback run critical revert=abc1234 please', '"please" is not a command or a severity'],
    ['/rollback critical run', 'must come first'],
    ['/rollback run branch=a branch=b', 'branch is given twice'],
    ['/rollback run high low', 'severity is given twice'],
    ['/rollback run\u0007 critical', 'control characters']
  ])('refuses %j', (body, reason) => {
    expect(reasonOf(body)).toContain(reason)
  })

  it('refuses a first line longer than the limit instead of reading part of it', () => {
    const body = `/rollback plan revert=${'a'.repeat(MAX_COMMAND_LENGTH)}`
    expect(reasonOf(body)).toMatch(/longer than/)
  })

  it('never lets a key other than the request inputs through, whatever the text (generated)', () => {
    const allowed = new Set([
      'command',
      'severity',
      'revert',
      'git-strategy',
      'reset-to',
      'confirm',
      'phases',
      'branch'
    ])
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), fc.string({ maxLength: 50 }), (rest, tail) => {
        const parsed = parseChatOpsComment(`/rollback ${rest}\n${tail}`)
        if (parsed.kind !== 'command') return
        for (const [key, value] of Object.entries(parsed.inputs)) {
          expect(allowed.has(key)).toBe(true)
          // Every value is one plain token: no spaces, quotes, $ or backticks survive.
          expect(value).toMatch(/^[A-Za-z0-9._/,:-]+$/)
        }
      }),
      { numRuns: 500 }
    )
  })

  it('values go through the same rules as the inputs', () => {
    const parsed = parseChatOpsComment('/rollback run critical revert=main..HEAD')
    expect(parsed.kind).toBe('command')
    if (parsed.kind !== 'command') return
    expect(() => parseRequest(parsed.inputs, { kind: 'chatops' }, 'r1')).toThrow(/revert/)
  })
})
