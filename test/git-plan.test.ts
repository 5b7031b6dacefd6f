/**
 * What a plan shows and when it fails, with real git: a reset plan lists the commits it would
 * discard before anyone confirms; a plan that finds the run would fail (a conflict, a missing
 * commit, an untracked file in the way) is a failed plan with the reason first; conflict paths are
 * shown as they are, not git-quoted.
 */
import { afterEach, describe, expect, it } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { execute } from '../src/engine.js'
import type { Request } from '../src/model.js'
import { buildPlan } from '../src/plan.js'
import { renderText } from '../src/report/text.js'
import { testContext, testRequest, testRunbook } from './support/context.js'
import {
  clone,
  commit,
  git,
  makeRepo,
  push,
  remoteHead,
  remoteLog,
  type TestRepo
} from './support/git.js'
import { runPhase } from './support/git-phase.js'

let repo: TestRepo | undefined
afterEach(() => {
  repo?.cleanup()
  repo = undefined
})

function history() {
  repo = makeRepo({ 'app.ts': 'polling\n', 'menú principal.ts': 'uno\n' })
  const base = git(repo.work, 'rev-parse', 'HEAD')
  const a = commit(repo.work, 'add stream route', { 'stream.ts': 'stream\n' })
  const b = commit(repo.work, 'switch app to streaming', {
    'app.ts': 'streaming\n',
    'menú principal.ts': 'dos\n'
  })
  push(repo.work)
  return { repo, base, a, b }
}

async function plan(workdir: string, runbook: Record<string, unknown>, over: Partial<Request>) {
  const book = testRunbook(runbook)
  const request = testRequest({ command: 'plan', phases: ['git'], ...over })
  const ctx = testContext({ workdir, env: process.env, runbook: book, request })
  return execute(buildPlan(book, request), ctx)
}

describe('git plan', () => {
  it('a reset plan without confirm lists the commits it would discard', async () => {
    const { repo: r, base, a, b } = history()
    const journal = await plan(clone(r), { git: {} }, { gitStrategy: 'reset', resetTo: base })
    expect(journal.status).toBe('planned')
    expect(journal.error).toBeUndefined()
    const planned = journal.steps[0]!.planned.join('\n')
    expect(planned).toContain('discarding 2 commit(s)')
    expect(planned).toContain(`${b.slice(0, 7)} switch app to streaming`)
    expect(planned).toContain(`${a.slice(0, 7)} add stream route`)
    expect(planned).toContain(`to run it: confirm ${base.slice(0, 7)}`)
    expect(remoteHead(r)).toBe(b)
  })

  it('a plan whose revert conflicts fails, the reason first, with real path names', async () => {
    const { repo: r, b } = history()
    commit(r.work, 'tune menu', { 'menú principal.ts': 'tres\n' })
    push(r.work)
    const head = remoteHead(r)
    const journal = await plan(clone(r), { git: { revert: b } }, {})
    expect(journal.status).toBe('failed')
    expect(journal.error!.message).toMatch(
      /^git: revert: reverting .* conflicts in menú principal\.ts/
    )
    expect(journal.error!.message).not.toContain('\\303')
    const text = renderText(journal).split('\n')
    expect(text[0]).toMatch(/FAILED/)
    expect(text.slice(0, 3).join('\n')).toContain('error: git: revert:')
    expect(remoteHead(r)).toBe(head)
  })

  it('a plan naming a commit that is not there fails', async () => {
    const { repo: r } = history()
    const journal = await plan(clone(r), { git: { revert: 'deadbeefdeadbeef' } }, {})
    expect(journal.status).toBe('failed')
    expect(journal.error!.message).toMatch(/revert: commit deadbeefdeadbeef is not in the history/)
  })

  it('the CLI exits 1 on a plan that would fail, and 0 on one that would not', () => {
    const { repo: r, b } = history()
    commit(r.work, 'tune streaming', { 'app.ts': 'streaming v2\n' })
    push(r.work)
    const workdir = clone(r)
    const runbook = join(r.root, 'rollback.yml')
    writeFileSync(runbook, 'version: 1\nname: cli-plan\ngit: {}\n')
    const failing = planWithCli(workdir, runbook, b)
    expect(failing.status).toBe(1)
    expect(failing.stdout.split('\n')[0]).toBe('Rollback cli-plan: FAILED')
    expect(failing.stdout.split('\n').slice(0, 4).join('\n')).toMatch(/conflicts in app\.ts/)
    const passing = planWithCli(workdir, runbook, git(r.work, 'rev-parse', 'HEAD'))
    expect(passing.status).toBe(0)
    expect(passing.stdout.split('\n')[0]).toBe('Rollback cli-plan: PLANNED')
  })
})

/** `emergency-rollback plan` from source against the checkout `workdir`. */
function planWithCli(workdir: string, runbook: string, revert: string) {
  const report = join(workdir, '..', `report-${revert.slice(0, 7)}.json`)
  const args = ['plan', '--runbook', runbook, '--revert', revert, '--workdir', workdir]
  return spawnSync(
    process.execPath,
    ['--import', 'tsx', 'src/cli.ts', ...args, '--report', report],
    { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: process.env.HOME } }
  )
}

describe('untracked files in the checkout', () => {
  it('one at a path the revert restores is named in preflight; nothing changes', async () => {
    const { repo: r } = history()
    const removal = commit(r.work, 'remove the old menu', { 'menú principal.ts': null })
    push(r.work)
    const workdir = clone(r)
    writeFileSync(join(workdir, 'menú principal.ts'), 'my local notes\n')
    const err = await runPhase({ workdir, runbook: { git: { revert: removal } } }).catch(e => e)
    expect(err.message).toMatch(
      /has untracked file where the rollback writes: menú principal\.ts; nothing was changed/
    )
    expect(err.hint).toMatch(/move or delete/)
    expect(remoteHead(r)).toBe(removal)
    expect(readFileSync(join(workdir, 'menú principal.ts'), 'utf8')).toBe('my local notes\n')
    expect(remoteLog(r)[0]).toBe('remove the old menu')
  })

  it('an untracked directory where a reset brings back a file is named too', async () => {
    const { repo: r, base } = history()
    const workdir = clone(r)
    // stream.ts does not exist at base; app.ts does. A directory named app.ts is in the way.
    git(r.work, 'rm', '--quiet', 'app.ts')
    git(r.work, 'commit', '--quiet', '-m', 'drop app.ts')
    push(r.work)
    git(workdir, 'pull', '--quiet', '--ff-only')
    mkdirSync(join(workdir, 'app.ts'))
    writeFileSync(join(workdir, 'app.ts', 'x'), 'x\n')
    const err = await runPhase({
      workdir,
      runbook: { git: { strategy: 'reset' } },
      request: { resetTo: base, confirm: base }
    }).catch(e => e)
    expect(err.message).toMatch(/untracked file where the rollback writes: app\.ts\//)
    expect(existsSync(join(workdir, 'app.ts', 'x'))).toBe(true)
  })

  it('the files step names one where it checks out the remote head', async () => {
    const { repo: r } = history()
    const workdir = clone(r)
    commit(r.work, 'add notes', { 'notes.md': 'n\n' })
    push(r.work)
    writeFileSync(join(workdir, 'notes.md'), 'mine\n')
    const err = await runPhase({
      workdir,
      runbook: { files: { remove: ['stream.ts'] } },
      phase: 'files'
    }).catch(e => e)
    expect(err.message).toMatch(/untracked file where the rollback writes: notes\.md/)
    expect(remoteLog(r)[0]).toBe('add notes')
  })

  it('ignored files are not in the way (git overwrites them)', async () => {
    const { repo: r } = history()
    const removal = commit(r.work, 'remove stream route', { 'stream.ts': null })
    commit(r.work, 'ignore build output', { '.gitignore': 'stream.ts\n' })
    push(r.work)
    const workdir = clone(r)
    writeFileSync(join(workdir, 'stream.ts'), 'built\n')
    const { result } = await runPhase({ workdir, runbook: { git: { revert: removal } } })
    expect(result!.status).toBe('succeeded')
  })
})
