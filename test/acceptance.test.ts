/** The built bundle, run as the Actions runner runs it. */
import { beforeAll, describe, expect, it } from '@jest/globals'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createStreamingRemote } from '../scripts/fixtures/git-remote.js'
import { runAction } from './support/action-runner.js'
import { BUNDLE_TIMEOUT_MS, builtBundle } from './support/bundle.js'

const EXAMPLE = 'examples/streaming-migration/rollback.yml'

describe('dist/index.js', () => {
  // The bundle these tests run is built from the current sources first (never a stale dist/).
  beforeAll(() => builtBundle(), BUNDLE_TIMEOUT_MS)

  it('exists (run npm run build)', () => {
    expect(existsSync('dist/index.js')).toBe(true)
  })

  it('plans the example runbook: summary written, status planned, nothing run', async () => {
    // A checkout of the example app (the files step checks its remote); no production secrets,
    // so the phases that need them only warn.
    const fx = await createStreamingRemote(mkdtempSync(join(tmpdir(), 'plan-checkout-')))
    const run = await runAction(
      { runbook: resolve(EXAMPLE), command: 'plan', severity: 'critical' },
      { GITHUB_WORKSPACE: fx.workdir }
    )
    expect(run.code).toBe(0)
    expect(run.outputs.status).toBe('planned')
    expect(run.summary).toContain('## 📝 Rollback plan: streaming-migration')
    expect(run.summary).toContain('| Step | Status | Duration | Would change |')
    const report = JSON.parse(readFileSync(run.outputs.report!, 'utf8')) as {
      status: string
      steps: unknown[]
    }
    expect(report.status).toBe('planned')
    expect(report.steps.length).toBeGreaterThan(0)
  })

  it('rejects an invalid runbook with a file annotation and status failed', async () => {
    const run = await runAction({ runbook: 'test/fixtures/bad-runbook.yml', command: 'plan' })
    expect(run.code).toBe(1)
    expect(run.outputs.status).toBe('failed')
    expect(run.stdout).toContain(
      '::error title=Invalid runbook,file=test/fixtures/bad-runbook.yml,line=4,col=3::flags.sett: unknown key "sett": did you mean "set"?'
    )
  })

  it('fails, not passes, when the run stops before it finished', async () => {
    // Opening the runbook never completes and nothing else is pending: Node ends the process.
    const hook = join(mkdtempSync(join(tmpdir(), 'hang-')), 'hang.cjs')
    writeFileSync(
      hook,
      "const fsp = require('node:fs/promises')\nfsp.open = fsp.readFile = () => new Promise(() => {})\n"
    )
    const run = await runAction(
      { runbook: EXAMPLE, command: 'plan', severity: 'critical' },
      { NODE_OPTIONS: `--require ${hook}` }
    )
    expect(run.code).toBe(1)
    expect(run.stdout).toContain('::error::the rollback stopped before it finished')
  })

  it('rejects bad inputs before doing anything, one annotation per problem', async () => {
    const run = await runAction({
      runbook: EXAMPLE,
      command: 'run',
      severity: 'sev1',
      revert: 'main..HEAD'
    })
    expect(run.code).toBe(1)
    expect(run.outputs.status).toBe('failed')
    const errors = run.stdout.split('\n').filter(line => line.startsWith('::error'))
    expect(errors).toEqual([
      '::error title=Invalid input::severity: "sev1" is not one of critical, high, medium, low',
      expect.stringMatching(
        /^::error title=Invalid input::revert: "main", "HEAD" is not a commit SHA/
      ),
      '::error::invalid inputs (2 problem(s)); nothing was changed'
    ])
  })

  it('masks secret inputs in everything it prints', async () => {
    const token = 'hosting-token-value-1234567890'
    const run = await runAction(
      {
        runbook: EXAMPLE,
        command: 'plan',
        severity: 'critical',
        'hosting-token': token,
        'database-url': 'postgres://u:s3cr3tpass@127.0.0.1:1/db'
      },
      { VERCEL_TOKEN: token }
    )
    expect(run.stdout).toContain(`::add-mask::${token}`)
    expect(run.stdout).toContain('::add-mask::s3cr3tpass')
    const report = readFileSync(run.outputs.report!, 'utf8')
    expect(report).not.toContain(token)
    expect(report).not.toContain('s3cr3tpass')
    expect(run.summary).not.toContain('s3cr3tpass')
  })
})
