/** The bundled CLI, run as an operator would run it. */
import { beforeAll, describe, expect, it } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BUNDLE_TIMEOUT_MS, builtBundle } from './support/bundle.js'

const EXAMPLE = 'examples/streaming-migration/rollback.yml'

/** The CLI bundle built from the current sources (never a stale dist/). */
let entry = ''
beforeAll(async () => {
  entry = join(await builtBundle(), 'cli', 'index.js')
}, BUNDLE_TIMEOUT_MS)

function cli(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [entry, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', ...env }
  })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

describe('emergency-rollback CLI', () => {
  it('--help lists commands, every non-secret input as a flag, and the secret variables', () => {
    const { code, stdout } = cli(['--help'])
    expect(code).toBe(0)
    for (const flag of [
      '--runbook',
      '--severity',
      '--phases',
      '--git-strategy',
      '--revert',
      '--reset-to',
      '--confirm',
      '--branch'
    ]) {
      expect(stdout).toContain(flag)
    }
    for (const secret of ['--github-token', '--hosting-token', '--database-url']) {
      expect(stdout).not.toContain(secret)
    }
    expect(stdout).toMatch(/GITHUB_TOKEN\s/)
    expect(stdout).toContain('database.url-env')
  })

  it('takes the database URL only from the variable the runbook names, not a stray DATABASE_URL', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-'))
    const runbook = join(dir, 'rollback.yml')
    writeFileSync(
      runbook,
      'version: 1\nname: x\ndatabase:\n  url-env: PROD_DATABASE_URL\n  steps:\n    - name: s\n      sql: SELECT 1\n'
    )
    const { code, stdout } = cli(['plan', '--runbook', runbook, '--report', join(dir, 'r.json')], {
      DATABASE_URL: 'postgres://someone@127.0.0.1:1/local_dev_db'
    })
    expect(code).toBe(0)
    expect(stdout).toContain('$PROD_DATABASE_URL is set')
    expect(stdout).not.toContain('local_dev_db')
  })

  it('plan prints the text report and writes the JSON report', () => {
    const report = join(mkdtempSync(join(tmpdir(), 'cli-')), 'report.json')
    const { code, stdout } = cli([
      'plan',
      '--runbook',
      EXAMPLE,
      '--severity',
      'medium',
      '--report',
      report
    ])
    expect(code).toBe(0)
    expect(stdout).toContain('Rollback streaming-migration: PLANNED')
    expect(stdout).toContain('Left out:')
    const json = JSON.parse(readFileSync(report, 'utf8')) as {
      status: string
      request: { severity: string }
    }
    expect(json).toMatchObject({ status: 'planned', request: { severity: 'medium' } })
  })

  it('exits 2 with the precise problem on a bad runbook', () => {
    const { code, stderr } = cli(['plan', '--runbook', 'test/fixtures/bad-runbook.yml'])
    expect(code).toBe(2)
    expect(stderr).toContain(
      'bad-runbook.yml:4:3: flags.sett: unknown key "sett": did you mean "set"?'
    )
    expect(stderr).toContain('nothing was changed')
  })

  it('exits 2 on a bad flag or a missing command', () => {
    expect(cli(['plan', '--sevrity', 'x']).code).toBe(2)
    expect(cli([]).code).toBe(2)
  })
})
