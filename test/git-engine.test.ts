/**
 * The demo path: the example runbook's git + files sections run by the real engine against the
 * streaming-migration fixture, from a depth-1 checkout like actions/checkout gives.
 */
import { afterEach, describe, expect, it } from '@jest/globals'
import { readFileSync, rmSync } from 'node:fs'
import { parse } from 'yaml'
import { createStreamingRemote } from '../scripts/fixtures/git-remote.js'
import { execute } from '../src/engine.js'
import { buildPlan } from '../src/plan.js'
import { runbookFrom } from '../src/runbook/validate.js'
import type { Request } from '../src/model.js'
import { testContext, testRequest } from './support/context.js'
import { git, tempDir } from './support/git.js'

const runbook = runbookFrom(
  parse(readFileSync('examples/streaming-migration/rollback.yml', 'utf8'))
)

let dir: string
afterEach(() => rmSync(dir, { recursive: true, force: true }))

async function engine(command: Request['command']) {
  dir = tempDir('git-engine-')
  const fx = await createStreamingRemote(dir, { depth: 1 })
  const request = testRequest({
    command,
    phases: ['git', 'files'],
    revert: fx.streamingRange,
    runId: `demo-${command}`
  })
  const ctx = testContext({
    workdir: fx.workdir,
    env: process.env,
    runbook,
    request,
    mode: command === 'drill' ? 'drill' : 'run'
  })
  const journal = await execute(buildPlan(runbook, request), ctx)
  const show = (path: string) => git(fx.remoteDir, 'show', `main:${path}`)
  const exists = (path: string) => git(fx.remoteDir, 'ls-tree', '--name-only', 'main', '--', path)
  return { fx, journal, show, exists }
}

describe('git phase in the engine (streaming-migration example)', () => {
  it('run reverts the streaming commits on the remote and the files step converges', async () => {
    const { fx, journal, show, exists } = await engine('run')
    expect(journal.error).toBeUndefined()
    expect(journal.status).toBe('succeeded')
    const [gitStep, filesStep] = journal.steps
    expect(gitStep!.details!.reverted).toEqual([...fx.streamingShas].reverse())
    expect(filesStep!.status).toBe('succeeded')
    expect(filesStep!.changed).toEqual([])
    expect(journal.outputs['head-sha']).toBe(git(fx.remoteDir, 'rev-parse', 'main'))
    expect(show('.env.production')).toBe('NEXT_PUBLIC_USE_STREAMING=false')
    expect(show('components/ui/AgenticOutlineGeneratorV2.tsx')).toContain('usePolling')
    expect(exists('lib/services/agenticOutlineServiceV3.ts')).toBe('')
    expect(exists('app/admin/streaming-migration')).toBe('')
    expect(exists('lib/services/agenticOutlineServiceV2.ts')).not.toBe('')
  })

  it('plan lists the commits that would be reverted, with subjects, and pushes nothing', async () => {
    const { fx, journal } = await engine('plan')
    expect(journal.status).toBe('planned')
    expect(journal.warnings).toEqual([])
    const planned = journal.steps[0]!.planned.join('\n')
    expect(planned).toContain('revert 5 commit(s) on origin/main')
    expect(planned).toContain(`${fx.streamingShas[4]!.slice(0, 7)} Enable streaming in production`)
    expect(planned).toMatch(/shallow checkout deepened by \d+ commits/)
    expect(git(fx.remoteDir, 'rev-parse', 'main')).toBe(fx.streamingShas[4])
  })

  it('drill reverts on a scratch branch, deletes it, and leaves main alone', async () => {
    const { fx, journal } = await engine('drill')
    expect(journal.status).toBe('succeeded')
    expect(journal.steps[0]!.changed[0]).toContain('refs/rollback/drill/demo-drill')
    expect(git(fx.remoteDir, 'rev-parse', 'main')).toBe(fx.streamingShas[4])
    expect(git(fx.remoteDir, 'for-each-ref', 'refs/rollback/drill')).toBe('')
  })
})
