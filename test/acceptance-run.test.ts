/**
 * The built bundle carries out the seed's whole rollback, run exactly as the Actions runner runs
 * it, against real PostgreSQL, a real git remote and the HTTP stand-ins.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import {
  INCIDENT_ISSUE,
  databaseFacts,
  startDemoWorld,
  type DemoWorld
} from '../scripts/fixtures/demo-world.js'
import { runAction, type ActionRun } from './support/action-runner.js'
import { BUNDLE_TIMEOUT_MS, builtBundle } from './support/bundle.js'

describe('dist/index.js run of the example runbook', () => {
  let world: DemoWorld
  let run: ActionRun
  const runTheRollback = () =>
    runAction(
      {
        runbook: world.runbookPath,
        command: 'run',
        severity: 'critical',
        revert: world.repo.streamingRange,
        'github-token': world.github.token
      },
      {
        ...world.env,
        GITHUB_WORKSPACE: world.repo.workdir,
        GITHUB_REPOSITORY: `${world.github.owner}/${world.github.repo}`,
        GITHUB_API_URL: world.github.url,
        GITHUB_SERVER_URL: world.github.serverUrl,
        GITHUB_RUN_ID: '4242',
        GITHUB_ACTOR: 'on-call'
      },
      { issue: { number: INCIDENT_ISSUE } }
    )

  // The bundle is built from the current sources first (never a stale dist/).
  beforeAll(() => builtBundle(), BUNDLE_TIMEOUT_MS)
  beforeAll(async () => {
    world = await startDemoWorld()
    run = await runTheRollback()
  })
  afterAll(async () => world?.stop())

  it('succeeds and sets every output', () => {
    expect({ code: run.code, status: run.outputs.status }).toEqual({ code: 0, status: 'succeeded' })
    const head = execFileSync('git', ['-C', world.repo.remoteDir, 'rev-parse', 'main'])
      .toString()
      .trim()
    expect(run.outputs['head-sha']).toBe(head)
    expect(run.outputs['deployment-url']).toMatch(/^https:\/\/outline-app-/)
    expect(run.outputs['incident-issue']).toContain(`/issues/`)
  })

  it('really changed every system', async () => {
    expect(await databaseFacts(world.databaseUrl)).toEqual({ stuck: 0, columns: 0, index: false })
    expect(world.vercel.liveDeployment()?.env.NEXT_PUBLIC_USE_STREAMING).toBe('false')
    const subject = execFileSync('git', [
      '-C',
      world.repo.remoteDir,
      'log',
      '-1',
      '--format=%s',
      'main'
    ])
    expect(subject.toString()).toMatch(/^Revert/)
  })

  it('writes the summary with the step table and the timeline, and the JSON report', () => {
    expect(run.summary).toContain('## ✅ Rollback succeeded: streaming-migration')
    expect(run.summary).toContain('```mermaid\ngantt')
    expect(run.summary).toContain('### Where discarded data was kept')
    const report = JSON.parse(readFileSync(run.outputs.report!, 'utf8')) as {
      status: string
      recovery: string[]
    }
    expect(report.status).toBe('succeeded')
    expect(report.recovery.join('\n')).toContain('outline_sessions_streaming_backup')
  })

  it('posts the closing status comment on the triggering issue', () => {
    const comments = world.github.comments.filter(c => c.issueNumber === INCIDENT_ISSUE)
    expect(comments).toHaveLength(1)
    expect(comments[0]!.body).toContain('Rollback complete, system stable')
  })

  it('is safe to run twice: the rerun converges without changing anything again', async () => {
    const head = run.outputs['head-sha']
    const deployments = world.vercel.deployments.length
    const rerun = await runTheRollback()
    expect(rerun.outputs.status).toBe('succeeded')
    expect(rerun.outputs['head-sha']).toBe(head)
    expect(world.vercel.deployments).toHaveLength(deployments)
    expect(await databaseFacts(world.databaseUrl)).toEqual({ stuck: 0, columns: 0, index: false })
    const report = JSON.parse(readFileSync(rerun.outputs.report!, 'utf8')) as {
      steps: { phase: string; changed: string[] }[]
    }
    // Notifications are news, so the rerun sends them again: only the incident issue stays one.
    const changedAgain = report.steps.filter(s => s.phase !== 'notify' && s.changed.length > 0)
    expect(changedAgain).toEqual([])
    expect(rerun.outputs['incident-issue']).toBe(run.outputs['incident-issue'])
    expect(world.github.issues.filter(i => i.title.startsWith('Incident:'))).toHaveLength(1)
  })

  it('never prints a secret', () => {
    const secrets = [world.github.token, world.vercel.token, world.webhook.url]
    const printed = run.stdout.replace(/^::add-mask::.*$/gm, '')
    for (const secret of secrets) {
      expect(printed).not.toContain(secret)
      expect(run.summary).not.toContain(secret)
      expect(readFileSync(run.outputs.report!, 'utf8')).not.toContain(secret)
    }
  })
})
