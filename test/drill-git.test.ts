/**
 * The drill exercises git for real with the example runbook's `git.drill` range: a scratch ref is
 * created and deleted on the bare remote, the branch is untouched, and the checkout's HEAD and
 * branch are where they were, even when the drill fails.
 */
import { afterEach, describe, expect, it } from '@jest/globals'
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { createStreamingRemote, type StreamingRemote } from '../scripts/fixtures/git-remote.js'
import { execute } from '../src/engine.js'
import { execGit, type GitRunner } from '../src/git/git-command-manager.js'
import { buildPlan } from '../src/plan.js'
import { runbookFrom } from '../src/runbook/validate.js'
import type { Request } from '../src/model.js'
import { testContext, testRequest } from './support/context.js'
import { git, tempDir } from './support/git.js'

const example = parse(readFileSync('examples/streaming-migration/rollback.yml', 'utf8'))

let dir: string
afterEach(() => rmSync(dir, { recursive: true, force: true }))

/** Records every ref update the bare remote receives ("<old> <new> <ref>" lines). */
function logRefUpdates(fx: StreamingRemote): () => string[] {
  const log = join(dir, 'ref-updates.log')
  writeFileSync(log, '')
  const hook = join(fx.remoteDir, 'hooks', 'post-receive')
  writeFileSync(hook, `#!/bin/sh\ncat >> '${log}'\n`)
  chmodSync(hook, 0o755)
  return () => readFileSync(log, 'utf8').split('\n').filter(Boolean)
}

function headOf(workdir: string) {
  const branch = git(workdir, 'symbolic-ref', '--quiet', 'HEAD')
  return { branch, sha: git(workdir, 'rev-parse', 'HEAD') }
}

async function drill(
  fx: StreamingRemote,
  request: Partial<Request> = {},
  options: { runbook?: Record<string, unknown>; runner?: GitRunner } = {}
) {
  const runbook = runbookFrom(options.runbook ?? example)
  const req = testRequest({ command: 'drill', phases: ['git'], runId: 'weekly', ...request })
  const ctx = testContext({
    workdir: fx.workdir,
    env: process.env,
    runbook,
    request: req,
    mode: 'drill',
    gitRunner: options.runner
  })
  return execute(buildPlan(runbook, req), ctx)
}

async function fixture(depth?: number) {
  dir = tempDir('drill-git-')
  return createStreamingRemote(dir, depth ? { depth } : {})
}

describe('drill with the runbook drill range', () => {
  it('reverts the last N commits onto a scratch ref, deletes it, and leaves main and HEAD alone', async () => {
    const fx = await fixture(1)
    const updates = logRefUpdates(fx)
    const before = headOf(fx.workdir)
    const journal = await drill(fx)
    expect(journal.error).toBeUndefined()
    expect(journal.status).toBe('succeeded')
    const step = journal.steps[0]!
    expect(step.status).toBe('succeeded')
    expect(step.details!.reverted).toEqual([...fx.streamingShas].reverse())
    // Created, then deleted (all-zero new sha); main never moved.
    const scratch = updates().filter(l => l.endsWith(' refs/rollback/drill/weekly'))
    expect(scratch).toHaveLength(2)
    expect(scratch[0]).toMatch(/^0{40} [0-9a-f]{40} /)
    expect(scratch[1]).toMatch(/^[0-9a-f]{40} 0{40} /)
    expect(updates().some(l => l.endsWith(' refs/heads/main'))).toBe(false)
    expect(git(fx.remoteDir, 'rev-parse', 'main')).toBe(fx.streamingShas[4])
    expect(git(fx.remoteDir, 'for-each-ref', 'refs/rollback')).toBe('')
    expect(headOf(fx.workdir)).toEqual(before)
  })

  it('takes the commits since a tag', async () => {
    const fx = await fixture()
    git(fx.workdir, 'tag', 'v1-polling', fx.goodSha)
    git(fx.workdir, 'push', 'origin', 'v1-polling')
    const runbook = { ...example, git: { ...example.git, drill: { since: 'v1-polling' } } }
    const journal = await drill(fx, {}, { runbook })
    expect(journal.error).toBeUndefined()
    expect(journal.steps[0]!.details!.reverted).toEqual([...fx.streamingShas].reverse())
  })

  it('a reset drill needs no confirm and only touches the scratch ref', async () => {
    const fx = await fixture(1)
    const updates = logRefUpdates(fx)
    const journal = await drill(fx, { gitStrategy: 'reset' })
    expect(journal.error).toBeUndefined()
    expect(journal.steps[0]!.status).toBe('succeeded')
    expect(journal.steps[0]!.changed.join('\n')).toContain(
      `reset origin/main from ${fx.streamingShas[4]!.slice(0, 7)} to ${fx.goodSha.slice(0, 7)}`
    )
    expect(updates().every(l => l.endsWith(' refs/rollback/drill/weekly'))).toBe(true)
    expect(git(fx.remoteDir, 'rev-parse', 'main')).toBe(fx.streamingShas[4])
  })

  it('puts HEAD back on its branch when the drill fails after building commits', async () => {
    const fx = await fixture()
    const before = headOf(fx.workdir)
    // Injected fault: the remote refuses the scratch push.
    const runner: GitRunner = (args, options) =>
      args.includes('push')
        ? Promise.resolve({ exitCode: 1, stdout: '', stderr: 'remote: refused by a test' })
        : execGit(args, options)
    const journal = await drill(fx, {}, { runner })
    expect(journal.status).toBe('failed')
    expect(headOf(fx.workdir)).toEqual(before)
  })

  it('puts a detached HEAD back on the same commit', async () => {
    const fx = await fixture()
    git(fx.workdir, 'checkout', '--quiet', '--detach', fx.goodSha)
    const journal = await drill(fx)
    expect(journal.status).toBe('succeeded')
    expect(git(fx.workdir, 'rev-parse', 'HEAD')).toBe(fx.goodSha)
    expect(() => git(fx.workdir, 'symbolic-ref', '--quiet', 'HEAD')).toThrow()
  })

  it('without a drill range the git step is skipped and says how to add one', async () => {
    const fx = await fixture()
    const { drill: _unused, ...rest } = example.git
    const journal = await drill(fx, {}, { runbook: { ...example, git: rest } })
    expect(journal.steps[0]!.status).toBe('skipped')
    expect(JSON.stringify(journal.steps[0]!.details)).toContain('git.drill')
  })
})
