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

  it("parseArgs's refusals are one line naming the flag and the fix", () => {
    const missing = cli(['plan', '--severity'])
    expect(missing.code).toBe(2)
    const fix =
      '--severity needs a value: write --severity <value> (a value starting with "-" as --severity=<value>); see the options below'
    expect(missing.stderr.split('\n')[0]).toBe(fix)
    // The next flag is not taken for the value, and the refusal is still one line.
    const ambiguous = cli(['plan', '--severity', '--phases', 'git'])
    expect(ambiguous.stderr.split('\n').slice(0, 2)).toEqual([fix, 'nothing was changed'])
    expect(cli(['plan', '--json=yes']).stderr.split('\n')[0]).toBe(
      '--json is a switch and takes no value: write --json alone; see the options below'
    )
  }, 60_000)

  it('a command line that would run other than typed is refused before anything runs', () => {
    const dir = tmp()
    const report = join(dir, 'r.json')
    const refusals: [string[], string][] = [
      [
        ['--revert', 'abcdef1', '--revert', '1234567'],
        '--revert: given more than once, so one would be ignored; give it once (several commits go in one value: --revert "A,B")'
      ],
      [
        ['--revert', ''],
        '--revert: the value is empty (an unset variable?); give a value or leave the flag out'
      ],
      [
        ['--runbook', ' '],
        '--runbook: the value is empty (an unset variable?); give a value or leave the flag out'
      ],
      [
        ['--json', '--markdown'],
        '--json, --markdown: choose one output form (the text summary without either)'
      ]
    ]
    for (const [flags, line] of refusals) {
      const { code, stdout, stderr } = cli([
        'run',
        '--severity',
        'critical',
        ...flags,
        '--report',
        report
      ])
      expect([flags, code, stderr.split('\n').slice(0, 2), stdout]).toEqual([
        flags,
        2,
        [line, 'nothing was changed'],
        ''
      ])
    }
    expect(existsSync(report)).toBe(false)
  }, 120_000)

  it('--release-lock with a command or other flags is refused, not a silent exit 0', () => {
    const { code, stderr } = cli(['--release-lock', 'run', '--severity', 'critical'])
    expect(code).toBe(2)
    expect(stderr.split('\n')[0]).toBe(
      '--release-lock: it releases the lock and does nothing else, so run, --severity would be ignored; give only --runbook and --workdir with it, and run the rest as a command of its own'
    )
  }, 60_000)

  it('a workdir that is no directory is invalid input, never a stack trace', () => {
    const file = join(tmp(), 'file')
    writeFileSync(file, '')
    const cases: [string, string][] = [
      [file, 'is not a directory'],
      [join(file, 'missing'), 'does not exist']
    ]
    for (const [workdir, why] of cases) {
      const line = `workdir: ${workdir} ${why}; point --workdir at the git checkout (default: the current directory)`
      for (const args of [
        ['plan', '--runbook', EXAMPLE, '--report', join(tmp(), 'r.json')],
        ['--release-lock', '--runbook', EXAMPLE]
      ]) {
        const { code, stderr } = cli([...args, '--workdir', workdir])
        expect([args[0], code, stderr]).toEqual([args[0], 2, `${line}\nnothing was changed\n`])
      }
    }
  }, 120_000)

  it('a reset drill with no target anywhere is invalid input (exit 2), found before git', () => {
    const runbook = join(tmp(), 'rollback.yml')
    writeFileSync(runbook, 'version: 1\nname: x\ngit:\n  branch: main\n')
    const { code, stderr } = cli([
      'drill',
      '--runbook',
      runbook,
      '--git-strategy',
      'reset',
      '--workdir',
      tmp(),
      '--report',
      join(tmp(), 'r.json')
    ])
    expect(code).toBe(2)
    expect(stderr.split('\n')[0]).toBe(
      'reset-to: required for git-strategy reset; set reset-to (input) or git.reset-to (runbook) to the known-good commit SHA, or for a drill git.drill'
    )
  }, 60_000)

  it('a confirm that cannot be the reset target is invalid input (exit 2), found before git', () => {
    const { code, stderr } = cli([
      'plan',
      '--runbook',
      EXAMPLE,
      '--phases',
      'git',
      '--reset-to',
      'abcdef1234567',
      '--confirm',
      '1234567',
      '--workdir',
      tmp(),
      '--report',
      join(tmp(), 'r.json')
    ])
    expect(code).toBe(2)
    expect(stderr.split('\n')[0]).toBe(
      'confirm: "1234567" does not match reset-to abcdef1234567; a reset discards commits: type the reset-to SHA (full, or its first 7+ characters) into confirm'
    )
  }, 60_000)

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
    // Only the git step, given no commits: a run that would succeed having done nothing.
    const idle = cli([
      'run',
      '--runbook',
      EXAMPLE,
      '--severity',
      'critical',
      '--phases',
      'git',
      '--report',
      join(dir, 'c.json')
    ])
    expect(idle.code).toBe(2)
    expect(idle.stderr).toContain(
      'phases: nothing was selected (git: no commits given: set revert (A..B or SHAs) or git-strategy reset with reset-to and confirm;'
    )
    expect(existsSync(join(dir, 'c.json'))).toBe(false)
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

  it('a malformed GITHUB_REPOSITORY is refused, not silently no incident issue', () => {
    const { code, stderr } = cli(
      ['plan', '--runbook', EXAMPLE, '--severity', 'low', '--report', join(tmp(), 'r.json')],
      { GITHUB_REPOSITORY: 'acme' }
    )
    expect(code).toBe(2)
    expect(stderr.split('\n')[0]).toBe(
      '$GITHUB_REPOSITORY: "acme" is not owner/repo; set it to the repository of the comments and incident issue (e.g. acme/app), or unset it'
    )
    expect(cli(['--help']).stdout).toMatch(/GITHUB_REPOSITORY\s+owner\/repo/)
  }, 60_000)

  it.each([
    ['no URL at all', 'h0st s3cretpw', 'is not a valid URL'],
    [
      'another scheme',
      'mysql://app:s3cretpw@db:3306/app',
      'must start with postgres:// (got mysql://)'
    ]
  ])(
    'a database URL that is %s is invalid input (exit 2), never echoed',
    (_what, url, problem) => {
      const { code, stdout, stderr } = cli(
        ['plan', '--runbook', EXAMPLE, '--severity', 'high', '--report', join(tmp(), 'r.json')],
        { DATABASE_URL: url }
      )
      expect(code).toBe(2)
      expect(stderr.split('\n').slice(0, 2)).toEqual([
        // The example's password is masked as every URL password on the way out.
        `database-url: the database URL from $DATABASE_URL ${problem}; use postgres://user:***@host:5432/dbname?sslmode=require`,
        'nothing was changed'
      ])
      expect(stdout + stderr).not.toContain('s3cretpw')
    },
    60_000
  )

  it("the demo's bad command line is one line and exit 2, before anything starts", () => {
    const demo = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'scripts/demo.ts', '--provider', 'vercl'],
      { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' }, timeout: 60_000 }
    )
    expect([demo.status, demo.stdout, demo.stderr]).toEqual([
      2,
      '',
      'demo: --provider vercl: expected one of vercel, netlify; usage: npm run demo [-- --provider vercel|netlify]\n'
    ])
    const unknown = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/demo.ts', '--x'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '' },
      timeout: 60_000
    })
    expect([unknown.status, unknown.stderr.split('\n').length]).toEqual([2, 2])
  }, 60_000)

  it('a report path that is the runbook is refused, and the runbook is left as it was', () => {
    const runbook = join(tmp(), 'rollback.yml')
    const text = readFileSync(EXAMPLE, 'utf8')
    writeFileSync(runbook, text)
    const { code, stderr } = cli(['plan', '--runbook', runbook, '--report', runbook])
    expect(code).toBe(2)
    expect(stderr.split('\n')[0]).toBe(
      `report: ${runbook} is the runbook; choose another path for the report (--report for the CLI)`
    )
    expect(readFileSync(runbook, 'utf8')).toBe(text)
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
