import { describe, expect, it } from '@jest/globals'
import { parseChatOpsComment } from '../src/chatops/parse.js'

describe('parseChatOpsComment', () => {
  it('ignores comments that are not the command', () => {
    expect(parseChatOpsComment('looks good, /rollback later?')).toEqual({ kind: 'not-a-command' })
    expect(parseChatOpsComment('/rollbacks run')).toEqual({ kind: 'not-a-command' })
  })

  it('parses command, severity and key=value pairs from the first line only', () => {
    expect(
      parseChatOpsComment(
        '/rollback run critical revert=abc1234..def5678 phases=git,files\nthanks!'
      )
    ).toEqual({
      kind: 'command',
      inputs: {
        command: 'run',
        severity: 'critical',
        revert: 'abc1234..def5678',
        phases: 'git,files'
      }
    })
  })

  it('defaults to plan', () => {
    expect(parseChatOpsComment('  /rollback')).toEqual({
      kind: 'command',
      inputs: { command: 'plan' }
    })
  })

  it.each([
    ['/rollback deploy', 'unknown command "deploy"'],
    ['/rollback run runbook=../pr/evil.yml', '"runbook" is not accepted in a comment'],
    ['/rollback run github-token=x', '"github-token" is not accepted'],
    ['/rollback run revert=$(curl)', 'revert: give a plain value'],
    ['/rollback run branch=a branch=b', 'branch is given twice']
  ])('refuses %s', (body, reason) => {
    const parsed = parseChatOpsComment(body)
    expect(parsed.kind).toBe('invalid')
    expect(parsed.kind === 'invalid' && parsed.reason).toContain(reason)
  })
})
