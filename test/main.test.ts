/**
 * The action entry's run() in-process, with the real @actions/core, as the runner sees it: the
 * GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files and the workflow commands on stdout (masks,
 * annotations on the runbook line).
 */
import { afterEach, describe, expect, it, jest } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { run } from '../src/main.js'
import { parseOutputFile } from './support/action-runner.js'
import { createStreamingRemote } from '../scripts/fixtures/git-remote.js'
import { GitHubClient } from '../src/github/client.js'
import { startGitHubStandin } from './support/github-standin.js'

const EXAMPLE = 'examples/streaming-migration/rollback.yml'
const dir = mkdtempSync(join(tmpdir(), 'entry-'))
// @actions/core keeps the summary file it first wrote to: one for the whole file, emptied per test.
const summaryFile = join(dir, 'summary.md')

interface EntryRun {
  stdout: string
  outputs: Record<string, string>
  summary: string
  exitCode: number | undefined
}

async function runEntry(
  inputs: Record<string, string>,
  env: Record<string, string | undefined> = {}
): Promise<EntryRun> {
  const saved = { ...process.env }
  const outputFile = join(mkdtempSync(join(dir, 'run-')), 'output')
  writeFileSync(outputFile, '')
  writeFileSync(summaryFile, '')
  for (const key of Object.keys(process.env)) {
    if (/^(INPUT_|GITHUB_|RUNNER_)/.test(key)) delete process.env[key]
  }
  Object.assign(process.env, {
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    GITHUB_WORKSPACE: process.cwd(),
    RUNNER_TEMP: dir,
    ...Object.fromEntries(Object.entries(inputs).map(([k, v]) => [`INPUT_${k.toUpperCase()}`, v])),
    ...env
  })
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k]
  const out: string[] = []
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation(chunk => {
    out.push(String(chunk))
    return true
  })
  // process.exitCode is the worker's, shared with whatever ran in it before this file.
  process.exitCode = undefined
  try {
    await run()
  } finally {
    spy.mockRestore()
    process.env = saved
  }
  const exitCode = process.exitCode === undefined ? undefined : Number(process.exitCode)
  return {
    stdout: out.join(''),
    outputs: parseOutputFile(readFileSync(outputFile, 'utf8')),
    summary: readFileSync(summaryFile, 'utf8'),
    exitCode
  }
}

afterEach(() => {
  process.exitCode = undefined
})

describe('run() through @actions/core', () => {
  it('plans the example: outputs in GITHUB_OUTPUT, the plan in the job summary', async () => {
    // A checkout of the example app: the git and files steps check its remote.
    const fx = await createStreamingRemote(mkdtempSync(join(dir, 'checkout-')))
    const r = await runEntry(
      { runbook: resolve(EXAMPLE), command: 'plan', severity: 'critical' },
      { GITHUB_WORKSPACE: fx.workdir }
    )
    // The error lines travel with the figures, so a failure here says why the plan failed.
    const errors = r.stdout.split('\n').filter(l => l.startsWith('::error'))
    expect({ exitCode: r.exitCode, status: r.outputs.status, errors }).toEqual({
      exitCode: undefined,
      status: 'planned',
      errors: []
    })
    expect(existsSync(r.outputs.report!)).toBe(true)
    expect(r.summary).toContain('## 📝 Rollback plan: streaming-migration')
    expect(r.stdout).not.toContain('::error')
  })

  it('an invalid runbook: one annotation on its file and line, status failed, step failed', async () => {
    const r = await runEntry({ runbook: 'test/fixtures/bad-runbook.yml', command: 'plan' })
    expect(r.exitCode).toBe(1)
    expect(r.outputs.status).toBe('failed')
    expect(r.stdout).toContain(
      '::error title=Invalid runbook,file=test/fixtures/bad-runbook.yml,line=4,col=3::flags.sett: unknown key "sett": did you mean "set"?'
    )
    expect(r.stdout).toContain('::error::invalid runbook (')
  })

  it('invalid inputs: one annotation per problem', async () => {
    const r = await runEntry({ runbook: EXAMPLE, command: 'run', severity: 'sev1' })
    expect(r.exitCode).toBe(1)
    expect(r.stdout).toContain(
      '::error title=Invalid input::severity: "sev1" is not one of critical, high, medium, low'
    )
  })

  it('masks every secret input, the git credential form of the token and URL passwords', async () => {
    const token = 'ghs_entry_token_123456'
    const r = await runEntry({
      runbook: EXAMPLE,
      command: 'plan',
      severity: 'critical',
      // The masks come first, whatever the plan does. Only the database phase, whose URL points at
      // a closed local port, so no preflight waits on a hosting or GitHub API this machine cannot
      // reach; a plan reports the unreachable database as a warning.
      phases: 'database',
      'github-token': token,
      'hosting-token': 'hosting-entry-token-987',
      'database-url': 'postgres://u:entrypass@127.0.0.1:1/db'
    })
    const masks = r.stdout.split('\n').filter(l => l.startsWith('::add-mask::'))
    expect(masks).toEqual(
      expect.arrayContaining([
        `::add-mask::${token}`,
        `::add-mask::${Buffer.from(`x-access-token:${token}`).toString('base64')}`,
        '::add-mask::hosting-entry-token-987',
        '::add-mask::entrypass'
      ])
    )
    // The warning names the database it could not reach, without the password.
    const warning = r.stdout.split('\n').find(l => l.startsWith('::warning::database preflight'))
    expect(warning).toMatch(/127\.0\.0\.1/)
    expect(warning).not.toContain('entrypass')
    expect(r.summary).not.toContain('entrypass')
  })
})

describe('run() on an issue_comment event (ChatOps)', () => {
  async function commentWorld(body: string, user = { login: 'octo-admin', type: 'User' }) {
    const github = await startGitHubStandin({ issues: [7] })
    const client = new GitHubClient({
      apiUrl: github.url,
      token: github.token,
      owner: github.owner,
      repo: github.repo
    })
    const command = await client.createComment(7, body)
    const eventPath = join(mkdtempSync(join(dir, 'event-')), 'event.json')
    writeFileSync(
      eventPath,
      JSON.stringify({
        action: 'created',
        comment: { id: command.id, body, user, author_association: 'OWNER' },
        issue: { number: 7 },
        repository: { default_branch: 'main' }
      })
    )
    const env = {
      GITHUB_EVENT_NAME: 'issue_comment',
      GITHUB_EVENT_PATH: eventPath,
      GITHUB_REPOSITORY: `${github.owner}/${github.repo}`,
      GITHUB_API_URL: github.url,
      GITHUB_REF: 'refs/heads/main'
    }
    const others = () => github.comments.filter(c => c.id !== command.id)
    const reactions = () => github.comments.find(c => c.id === command.id)!.reactions
    return { github, env, others, reactions, commandId: command.id }
  }

  it('gate: a command the inputs refuse is answered on the comment, not accepted', async () => {
    const w = await commentWorld('/rollback run')
    try {
      const r = await runEntry({ chatops: 'gate', 'github-token': w.github.token }, w.env)
      expect(r.exitCode).toBe(1)
      expect(r.outputs.status).toBe('failed')
      expect(r.outputs.request).toBeUndefined()
      expect(w.others()[0]!.body).toContain('severity: required for command run')
      expect(w.reactions()).toEqual(['confused'])
    } finally {
      await w.github.close()
    }
  })

  it.each([
    ['chatops-permission', 'maintainer', 'did you mean "maintain"?'],
    ['chatops-permission', 'none', 'is not one of read, triage, write, maintain, admin'],
    ['chatops', 'gaet', 'did you mean "gate"?']
  ])('an invalid %s input (%j) is named with the fix', async (name, value, fix) => {
    const w = await commentWorld('/rollback plan')
    try {
      const r = await runEntry({ [name]: value, 'github-token': w.github.token }, w.env)
      expect(r.exitCode).toBe(1)
      expect(r.stdout).toContain(`::error title=Invalid input::${name}: "${value}"`)
      expect(r.stdout).toContain(fix)
      expect(w.others()).toEqual([])
    } finally {
      await w.github.close()
    }
  })

  it('after the gate: a chatops-reply that is not a comment id is refused; the comment is not read again', async () => {
    const w = await commentWorld('/rollback run critical')
    try {
      const r = await runEntry(
        { command: 'plan', 'chatops-reply': 'abc', 'github-token': w.github.token },
        w.env
      )
      expect(r.exitCode).toBe(1)
      expect(r.stdout).toContain('::error title=Invalid input::chatops-reply: "abc"')
      expect(w.others()).toEqual([])
      expect(w.reactions()).toEqual([])
    } finally {
      await w.github.close()
    }
  })

  it('gate: a bot comment is ignored without a call', async () => {
    const w = await commentWorld('/rollback run critical', {
      login: 'github-actions[bot]',
      type: 'Bot'
    })
    try {
      const before = w.github.requests.length
      const r = await runEntry({ chatops: 'gate', 'github-token': w.github.token }, w.env)
      expect(r.exitCode).toBeUndefined()
      expect(r.outputs.status).toBe('ignored')
      expect(w.github.requests.length).toBe(before)
    } finally {
      await w.github.close()
    }
  })

  describe('the plan ahead of a gated run, then the run (the reusable workflow’s jobs)', () => {
    /** A runbook that plans and runs here: a smoke check, no status comment of its own. */
    function gateRunbook(severity: Record<string, unknown> = {}, smoke = 'true') {
      const path = join(mkdtempSync(join(dir, 'runbook-')), 'rollback.yml')
      writeFileSync(
        path,
        JSON.stringify({
          version: 1,
          name: 'gated',
          severity,
          verify: { smoke: { run: smoke } },
          notify: { 'status-comment': false }
        })
      )
      return path
    }

    /** The request job: the comment authorised, read and replied to (👀); the reply's id. */
    async function gate(w: Awaited<ReturnType<typeof commentWorld>>) {
      const r = await runEntry({ chatops: 'gate', 'github-token': w.github.token }, w.env)
      expect(r.outputs.status).toBe('accepted')
      return JSON.parse(r.outputs.request!) as { reply: string; severity: string }
    }

    const job = (
      w: Awaited<ReturnType<typeof commentWorld>>,
      runbook: string,
      request: { reply: string; severity: string },
      inputs: Record<string, string>
    ) =>
      runEntry(
        {
          runbook,
          severity: request.severity,
          'chatops-reply': request.reply,
          'github-token': w.github.token,
          ...inputs
        },
        w.env
      )

    it('the plan awaits approval in the environment, with no result reaction; the run adds it', async () => {
      const w = await commentWorld('/rollback run high')
      try {
        const request = await gate(w)
        const runbook = gateRunbook()
        expect(w.reactions()).toEqual(['eyes'])

        const plan = await job(w, runbook, request, { command: 'plan', 'plan-before-run': 'true' })
        expect(plan.outputs).toMatchObject({
          status: 'planned',
          environment: 'production-rollback'
        })
        expect(w.reactions()).toEqual(['eyes'])
        const reply = () => w.github.comments.find(c => c.id === Number(request.reply))!.body
        expect(reply()).toMatch(/^👀 \*\*\/rollback run\*\* from @octo-admin/)
        expect(reply()).toContain(
          '⏳ **Awaiting approval**: the run waits for a reviewer of the `production-rollback` environment.'
        )
        expect(reply()).toContain('Rollback plan: gated')

        const run = await job(w, runbook, request, { command: 'run' })
        expect(run.outputs.status).toBe('succeeded')
        expect(w.reactions()).toEqual(['eyes', 'rocket'])
        expect(reply()).not.toContain('Awaiting approval')
        expect(reply()).toContain('Rollback succeeded: gated')
      } finally {
        await w.github.close()
      }
    })

    it('no environment for the severity: the plan says the run starts next, still no reaction', async () => {
      const w = await commentWorld('/rollback run critical')
      try {
        const request = await gate(w)
        const plan = await job(w, gateRunbook(), request, {
          command: 'plan',
          'plan-before-run': 'true'
        })
        expect(plan.outputs).toMatchObject({ status: 'planned', environment: '' })
        expect(w.reactions()).toEqual(['eyes'])
        const reply = w.github.comments.find(c => c.id === Number(request.reply))!.body
        expect(reply).toContain('⏳ **The run starts next.**')
      } finally {
        await w.github.close()
      }
    })

    it('a plan that fails, naming no environment, stops the run: the reply ends with a thumbs-down', async () => {
      const w = await commentWorld('/rollback run critical')
      try {
        const request = await gate(w)
        // Its git check cannot reach the remote: the plan fails, and the workflow starts no run.
        const workspace = mkdtempSync(join(dir, 'workspace-'))
        spawnSync('git', ['init', '--quiet', workspace])
        const runbook = join(workspace, 'rollback.yml')
        writeFileSync(
          runbook,
          JSON.stringify({ version: 1, name: 'gated', git: { remote: join(dir, 'no-remote.git') } })
        )
        const plan = await runEntry(
          {
            runbook,
            command: 'plan',
            severity: request.severity,
            revert: 'a'.repeat(40),
            'plan-before-run': 'true',
            'chatops-reply': request.reply,
            'github-token': w.github.token
          },
          { ...w.env, GITHUB_WORKSPACE: workspace }
        )
        expect(plan.outputs).toMatchObject({ status: 'failed', environment: '' })
        expect(w.reactions()).toEqual(['eyes', '-1'])
        const reply = w.github.comments.find(c => c.id === Number(request.reply))!.body
        expect(reply).toContain('❌ **The run will not start**: its plan failed.')
        expect(reply).toContain('cannot reach git remote')
      } finally {
        await w.github.close()
      }
    })

    it('a plan that cannot start at all ends the reply the same way', async () => {
      const w = await commentWorld('/rollback run high')
      try {
        const request = await gate(w)
        const plan = await job(w, 'test/fixtures/no-such-runbook.yml', request, {
          command: 'plan',
          'plan-before-run': 'true'
        })
        expect(plan.exitCode).toBe(1)
        expect(w.reactions()).toEqual(['eyes', '-1'])
        const reply = w.github.comments.find(c => c.id === Number(request.reply))!.body
        expect(reply).toMatch(/The rollback stopped[\s\S]*file not found/)
      } finally {
        await w.github.close()
      }
    })

    it('plan-before-run belongs to a plan: with the run itself it is refused', async () => {
      const w = await commentWorld('/rollback run high')
      try {
        const request = await gate(w)
        const r = await job(w, gateRunbook(), request, {
          command: 'run',
          'plan-before-run': 'true'
        })
        expect(r.exitCode).toBe(1)
        expect(r.stdout).toContain(
          '::error title=Invalid input::plan-before-run: only for command plan'
        )
        expect(w.reactions()).toEqual(['eyes'])
      } finally {
        await w.github.close()
      }
    })
  })

  it('after the gate: a run that cannot start still ends the reply, with a thumbs-down', async () => {
    const w = await commentWorld('/rollback plan')
    try {
      const reply = await new GitHubClient({
        apiUrl: w.github.url,
        token: w.github.token,
        owner: w.github.owner,
        repo: w.github.repo
      }).createComment(7, '👀 **/rollback plan** from @octo-admin accepted')
      const r = await runEntry(
        {
          command: 'plan',
          runbook: 'test/fixtures/no-such-runbook.yml',
          'chatops-reply': String(reply.id),
          'github-token': w.github.token
        },
        w.env
      )
      expect(r.exitCode).toBe(1)
      expect(r.outputs.status).toBe('failed')
      const updated = w.github.comments.find(c => c.id === reply.id)!
      expect(updated.body).toMatch(/The rollback stopped[\s\S]*file not found/)
      expect(w.reactions()).toEqual(['-1'])
    } finally {
      await w.github.close()
    }
  })
})
