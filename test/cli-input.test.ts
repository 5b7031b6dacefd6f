/**
 * The CLI (run from source, so it tests this code and not the last bundle) refuses bad input
 * with exit 2 and one line per problem, never repeating a secret.
 */
import { describe, expect, it } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'

const EXAMPLE = 'examples/streaming-migration/rollback.yml'

function cli(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', ...env },
    timeout: 60_000
  })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

const tmp = () => mkdtempSync(join(tmpdir(), 'cli-input-'))

describe('CLI input', () => {
  it('an unknown flag is refused in one line, with the flag meant for a typo', () => {
    const typo = cli(['run', '--sevrity', 'high'])
    expect(typo.code).toBe(2)
    expect(typo.stderr.split('\n')[0]).toBe(
      'unknown option --sevrity (did you mean --severity?); see the options below'
    )
    expect(typo.stderr).toContain('Usage: emergency-rollback')
    expect(cli(['plan', '--xyzzy']).stderr.split('\n')[0]).toBe(
      'unknown option --xyzzy; see the options below'
    )
  })

  it('a flag named like a credential is refused without repeating its value', () => {
    const { code, stderr } = cli(['plan', '--AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMIK7MDENG'])
    expect(code).toBe(2)
    expect(stderr).toContain(
      '--AWS_SECRET_ACCESS_KEY: secrets are read from environment variables only'
    )
    expect(stderr).not.toContain('wJalrXUtnFEMIK7MDENG')
    const token = 'ghp_' + 'x1Y2'.repeat(9)
    const second = cli(['plan', '--hosting-token', token])
    expect(second.code).toBe(2)
    expect(second.stderr).not.toContain(token)
    const third = cli(['plan', `--${token}`])
    expect(third.code).toBe(2)
    expect(third.stderr).not.toContain(token)
  }, 60_000)

  it('phases that select nothing are invalid input', () => {
    const dir = tmp()
    const commas = cli([
      'plan',
      '--runbook',
      EXAMPLE,
      '--phases',
      ',,,',
      '--report',
      join(dir, 'a.json')
    ])
    expect(commas.code).toBe(2)
    expect(commas.stderr).toContain('phases: ",,," names no phase, so nothing would be selected')
    const excluded = cli([
      'plan',
      '--runbook',
      EXAMPLE,
      '--severity',
      'low',
      '--phases',
      'git',
      '--report',
      join(dir, 'b.json')
    ])
    expect(excluded.code).toBe(2)
    expect(excluded.stderr).toContain(
      'phases: nothing was selected (flags: not part of severity low;'
    )
    expect(existsSync(join(dir, 'b.json'))).toBe(false)
  }, 60_000)

  it('an unwritable report path is refused before the run starts', () => {
    const dir = tmp()
    const blocker = join(dir, 'file')
    writeFileSync(blocker, '')
    const { code, stderr, stdout } = cli([
      'plan',
      '--runbook',
      EXAMPLE,
      '--severity',
      'medium',
      '--report',
      join(blocker, 'report.json')
    ])
    expect(code).toBe(2)
    expect(stderr).toMatch(
      /report: cannot write the report to .*file\/report\.json \((ENOTDIR|EEXIST)\)/
    )
    expect(stdout).toBe('')
  }, 60_000)

  it('a FIFO as the runbook is refused at once (exit 2)', () => {
    const fifo = join(tmp(), 'rollback.yml')
    execFileSync('mkfifo', [fifo])
    const { code, stderr } = cli(['plan', '--runbook', fifo])
    expect(code).toBe(2)
    expect(stderr).toContain('not a regular file')
  }, 60_000)

  it('a token with a newline is refused, naming its variable', () => {
    const { code, stderr } = cli(
      ['plan', '--runbook', EXAMPLE, '--report', join(tmp(), 'r.json')],
      {
        VERCEL_TOKEN: 'abcd\nefgh'
      }
    )
    expect(code).toBe(2)
    expect(stderr).toContain('$VERCEL_TOKEN: the value contains a line break')
    expect(stderr).not.toContain('efgh')
  }, 60_000)

  it('random secret values never appear on stdout, stderr or in the report', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9_-]{16,32}$/),
        fc.stringMatching(/^[A-Za-z0-9!$&*+.~-]{12,24}$/),
        fc.constantFrom('--json', '--markdown', '--text'),
        (token, password, form) => {
          const report = join(tmp(), 'r.json')
          const { stdout, stderr } = cli(
            [
              'plan',
              '--runbook',
              EXAMPLE,
              '--report',
              report,
              ...(form === '--text' ? [] : [form])
            ],
            {
              VERCEL_TOKEN: `tok${token}`,
              DATABASE_URL: `postgres://app:pw${encodeURIComponent(password)}@127.0.0.1:1/app`,
              GITHUB_TOKEN: `gh${token}`
            }
          )
          const all = `${stdout}\n${stderr}\n${existsSync(report) ? readFileSync(report, 'utf8') : ''}`
          for (const secret of [
            `tok${token}`,
            `pw${password}`,
            `pw${encodeURIComponent(password)}`,
            `gh${token}`
          ]) {
            expect(all).not.toContain(secret)
          }
        }
      ),
      { numRuns: 2 }
    )
  }, 180_000)
})
