/**
 * The branch head a plan was made against, carried to the run (`expect-head`, as the reusable
 * workflow passes the plan job's `branch-head` to the rollback job): against a real bare remote,
 * with the plan and the run in two depth-1 checkouts like two jobs. A commit pushed while the run
 * waited (for its approval, or in the lock queue) makes the run refuse, naming it, with nothing
 * pushed; an unmoved branch is rolled back with the planned head as the push's lease.
 */
import { afterEach, describe, expect, it } from '@jest/globals'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createStreamingRemote, type StreamingRemote } from '../scripts/fixtures/git-remote.js'
import { execGit, type GitRunner } from '../src/git/git-command-manager.js'
import { rollback } from '../src/rollback.js'
import { recordingLogger } from './support/context.js'
import { commit, git } from './support/git.js'

const RUNBOOK = 'examples/streaming-migration/rollback.yml'

let dir: string
afterEach(() => rmSync(dir, { recursive: true, force: true }))

async function world() {
  dir = mkdtempSync(join(tmpdir(), 'pinned-head-'))
  const fx = await createStreamingRemote(dir, { depth: 1 })
  // The rollback job's own checkout of the same commit (actions/checkout, depth 1).
  const runCheckout = join(dir, 'run-checkout')
  git(dir, 'clone', '--quiet', '--depth=1', '--branch', 'main', fx.remoteUrl, runCheckout)
  const main = () => git(fx.remoteDir, 'rev-parse', 'main')
  /** Someone else's push to main (the author's clone is at the remote's tip). */
  const pushHotfix = () => {
    const author = join(dir, 'author')
    const sha = commit(author, 'Hotfix pushed meanwhile', { 'HOTFIX.md': 'fixed\n' })
    git(author, 'push', '--quiet', fx.remoteUrl, 'main')
    return sha
  }
  return { fx, runCheckout, main, pushHotfix }
}

function attempt(
  fx: StreamingRemote,
  workdir: string,
  inputs: Record<string, string>,
  gitRunner?: GitRunner
) {
  return rollback({
    runbookPath: RUNBOOK,
    inputs: { severity: 'critical', phases: 'git,files', revert: fx.streamingRange, ...inputs },
    trigger: { kind: 'dispatch' },
    runId: `pinned-${inputs.command}`,
    workdir,
    env: { PATH: process.env.PATH, HOME: dir, GIT_CONFIG_NOSYSTEM: '1' },
    secrets: {},
    reportPath: join(dir, `report-${inputs.command}.json`),
    log: recordingLogger(),
    sleep: async () => {},
    gitRunner
  })
}

/** Every ref of the remote, to show that nothing at all was pushed. */
const remoteRefs = (fx: StreamingRemote) => git(fx.remoteDir, 'for-each-ref')

describe('the branch head a plan was made against', () => {
  it('the plan outputs the head it saw, and names it in its summary', async () => {
    const { fx, main } = await world()
    const plan = await attempt(fx, fx.workdir, { command: 'plan' })
    expect(plan.journal.status).toBe('planned')
    expect(plan.outputs['branch-head']).toBe(main())
    expect(plan.markdown).toContain(`Planned against branch head \`${main()}\``)
  })

  it('a commit pushed while the run waited for approval: the run refuses, naming it; nothing pushed', async () => {
    const { fx, runCheckout, main, pushHotfix } = await world()
    const plan = await attempt(fx, fx.workdir, { command: 'plan' })
    const planned = plan.outputs['branch-head']!
    const hotfix = pushHotfix()
    const before = remoteRefs(fx)

    const run = await attempt(fx, runCheckout, { command: 'run', 'expect-head': planned })

    expect(run.journal.status).toBe('failed')
    expect(run.journal.steps.every(s => s.status === 'skipped')).toBe(true)
    expect(run.journal.error!.message).toContain(
      `branch: origin/main moved since the plan (${planned.slice(0, 7)} -> ${hotfix.slice(0, 7)}): 1 new commit(s): ${hotfix.slice(0, 7)} Hotfix pushed meanwhile; nothing was changed`
    )
    expect(run.journal.error!.hint).toMatch(/trigger the rollback again so that it plans/)
    expect(main()).toBe(hotfix)
    expect(remoteRefs(fx)).toBe(before)
  })

  it('a commit pushed while the run waited in the lock queue: the git step refuses it; nothing pushed', async () => {
    const { fx, runCheckout, main, pushHotfix } = await world()
    const planned = (await attempt(fx, fx.workdir, { command: 'plan' })).outputs['branch-head']!
    let hotfix = ''
    // Right after the run took its lock (after every check passed), someone pushes.
    const runner: GitRunner = async (args, options) => {
      const out = await execGit(args, options)
      const lockTaken =
        args[0] === 'push' && args.some(a => a.includes('refs/emergency-rollback/lock'))
      if (lockTaken && !hotfix) hotfix = pushHotfix()
      return out
    }

    const run = await attempt(fx, runCheckout, { command: 'run', 'expect-head': planned }, runner)

    expect(hotfix).not.toBe('')
    expect(run.journal.status).toBe('failed')
    const gitStep = run.journal.steps.find(s => s.id === 'git')!
    expect(gitStep.status).toBe('failed')
    expect(gitStep.error!.message).toContain(`moved since the plan`)
    expect(gitStep.error!.message).toContain(`${hotfix.slice(0, 7)} Hotfix pushed meanwhile`)
    expect(main()).toBe(hotfix)
    expect(git(fx.remoteDir, 'log', '--format=%s', '-1', 'main')).toBe('Hotfix pushed meanwhile')
  })

  it('an unmoved branch: the run goes ahead, with the planned head as the lease of its push', async () => {
    const { fx, runCheckout, main } = await world()
    const planned = (await attempt(fx, fx.workdir, { command: 'plan' })).outputs['branch-head']!
    const pushes: string[][] = []
    const runner: GitRunner = (args, options) => {
      if (args[0] === 'push' && args.some(a => a.endsWith(':refs/heads/main'))) pushes.push(args)
      return execGit(args, options)
    }

    const run = await attempt(fx, runCheckout, { command: 'run', 'expect-head': planned }, runner)

    expect(run.journal.error).toBeUndefined()
    expect(run.journal.status).toBe('succeeded')
    expect(run.outputs['branch-head']).toBe(planned)
    expect(pushes).toHaveLength(1)
    expect(pushes[0]).toContain(`--force-with-lease=refs/heads/main:${planned}`)
    expect(git(fx.remoteDir, 'merge-base', '--is-ancestor', planned, 'main')).toBe('')
    expect(main()).not.toBe(planned)
  })

  it('without the git phase, the files step keeps to the planned head too', async () => {
    const { fx, runCheckout, main, pushHotfix } = await world()
    const planned = (await attempt(fx, fx.workdir, { command: 'plan', phases: 'files' })).outputs[
      'branch-head'
    ]!
    expect(planned).toBe(main())
    const hotfix = pushHotfix()

    const run = await attempt(fx, runCheckout, {
      command: 'run',
      phases: 'files',
      'expect-head': planned
    })

    expect(run.journal.status).toBe('failed')
    expect(run.journal.error!.message).toContain('files: branch: origin/main moved since the plan')
    expect(main()).toBe(hotfix)
  })

  it('an expect-head that is no full SHA is refused before anything runs', async () => {
    const { fx, runCheckout } = await world()
    await expect(
      attempt(fx, runCheckout, { command: 'run', 'expect-head': 'main' })
    ).rejects.toThrow('expect-head: "main" is not a full commit SHA')
  })
})
