/**
 * The workflows: what every workflow must hold to (pinned actions, no stored credentials, no
 * expressions inside scripts), the severity gate of the reusable workflow, thin callers, and the
 * reusable workflow's `decide` script run for real with bash on generated requests.
 */
import { describe, expect, it } from '@jest/globals'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { parse } from 'yaml'
import { parseLockWait } from '../src/request.js'
import {
  decide,
  dispatch,
  loadWorkflow as load,
  REUSABLE,
  type Workflow
} from './support/workflow.js'
import { decide as decideComment, type ChatOpsApi } from '../src/chatops/comment.js'
import { CHATOPS_PREFIX, parseChatOpsComment } from '../src/chatops/parse.js'

const OWN = ['.github/workflows', 'examples/workflows']
const files = OWN.flatMap(dir =>
  readdirSync(dir)
    .filter(f => f.endsWith('.yml'))
    .map(f => join(dir, f))
)
const steps = (workflow: Workflow) => Object.values(workflow.jobs).flatMap(job => job.steps ?? [])
const PUBLISHED_WORKFLOW = 'emergency-rollback/emergency-rollback/.github/workflows/rollback.yml@v1'

describe('every workflow', () => {
  it.each(files)('%s pins third-party actions by full commit SHA with the version named', file => {
    const lines = readFileSync(file, 'utf8').split('\n')
    const uses = lines.filter(line => /^\s*(-\s+)?uses:\s/.test(line))
    for (const line of uses) {
      const ref = /uses:\s+(\S+)/.exec(line)![1]!
      if (ref.startsWith('./') || ref.startsWith('emergency-rollback/emergency-rollback/')) continue
      expect({ line, pinned: /@[0-9a-f]{40} # v\d+(\.\d+){0,2}$/.test(line.trimEnd()) }).toEqual({
        line,
        pinned: true
      })
    }
  })

  it.each(files)('%s checks out without storing credentials', file => {
    for (const step of steps(load(file)).filter(s => s.uses?.startsWith('actions/checkout@'))) {
      expect(step.with?.['persist-credentials']).toBe(false)
    }
  })

  it.each(files)('%s never puts an expression inside a script (values go through env)', file => {
    for (const step of steps(load(file)).filter(s => s.run)) {
      expect(step.run).not.toContain('${{')
    }
  })

  it.each(files)('%s declares the token permissions it needs', file => {
    const workflow = load(file)
    const declared =
      workflow.on.workflow_call !== undefined ||
      workflow.permissions !== undefined ||
      Object.values(workflow.jobs).every(job => job.permissions)
    expect(declared).toBe(true)
  })
})

describe('the reusable workflow', () => {
  const workflow = load(REUSABLE)
  const call = workflow.on.workflow_call as {
    inputs: Record<string, unknown>
    secrets: Record<string, { required: boolean }>
  }

  it('takes the request, ChatOps settings and secrets', () => {
    expect(Object.keys(call.inputs)).toEqual(
      expect.arrayContaining([
        'command',
        'severity',
        'phases',
        'git-strategy',
        'revert',
        'reset-to',
        'confirm',
        'branch',
        'runbook',
        'lock-wait',
        'chatops-permission',
        'chatops-allow'
      ])
    )
    expect(call.secrets).toEqual({
      HOSTING_TOKEN: expect.objectContaining({ required: false }),
      DATABASE_URL: expect.objectContaining({ required: false }),
      ROLLBACK_WEBHOOK_URL: expect.objectContaining({ required: false }),
      ROLLBACK_PUSH_TOKEN: expect.objectContaining({ required: false })
    })
  })

  it('gates every run and drill: secrets environment always, first the environment the plan read', () => {
    const { plan, approve, rollback } = workflow.jobs
    expect(plan!.environment).toBeUndefined()
    // The approval waits in the environment the runbook names for the severity, read by the plan.
    expect(plan!.outputs!.environment).toBe('${{ steps.action.outputs.environment }}')
    expect(approve!.environment).toBe('${{ needs.plan.outputs.environment }}')
    expect(rollback!.environment).toBe('rollback-secrets')
    expect(rollback!.needs).toEqual(['request', 'plan', 'approve'])
  })

  it('lets no concurrency group cancel a pending rollback: runs wait in the lock queue', () => {
    // GitHub keeps one pending run per group and cancels it when a third arrives.
    expect(workflow.concurrency).toBeUndefined()
    for (const job of Object.values(workflow.jobs)) expect(job.concurrency).toBeUndefined()
    const step = workflow.jobs.rollback!.steps!.find(s => s.id === 'action')!
    expect(step.with!['lock-wait']).toBe('${{ inputs.lock-wait }}')
    const lockWait = call.inputs['lock-wait'] as { default: string }
    expect(parseLockWait(lockWait.default)).toBeGreaterThan(0)
    // The job's time limit leaves room for the whole wait and a rollback after it.
    const limit = workflow.jobs.rollback!['timeout-minutes']!
    expect(limit * 60_000).toBeGreaterThanOrEqual(parseLockWait(lockWait.default) + 60 * 60_000)
  })

  it('the API calls use the workflow token; the push token reaches git only', () => {
    for (const job of Object.values(workflow.jobs)) {
      for (const step of (job.steps ?? []).filter(s => s.id === 'action')) {
        const given = step.with ?? {}
        // Never a secret as github-token: a push-only token would 403 on comments and issues.
        expect(String(given['github-token'] ?? '${{ github.token }}')).toBe('${{ github.token }}')
        if (given['push-token'] !== undefined)
          expect(given['push-token']).toBe('${{ secrets.ROLLBACK_PUSH_TOKEN }}')
      }
    }
    const rollback = workflow.jobs.rollback!.steps!.find(s => s.id === 'action')!
    expect(rollback.with!['push-token']).toBe('${{ secrets.ROLLBACK_PUSH_TOKEN }}')
  })

  it('every trigger takes the one lock; release-lock and lock-stale-after reach the action', () => {
    // Every caller (Run button, comment, drill) calls this workflow, whose only job that changes
    // anything runs the action, which takes the lock ref (none is left out by a job of its own).
    const callers = readdirSync('examples/workflows').map(f => load(join('examples/workflows', f)))
    for (const caller of callers) {
      for (const job of Object.values(caller.jobs)) expect(job.uses).toBe(PUBLISHED_WORKFLOW)
      // The takeover of a stale lock asks the Actions API whether its run has ended.
      expect(caller.permissions).toMatchObject({ actions: 'read' })
    }
    const step = workflow.jobs.rollback!.steps!.find(s => s.id === 'action')!
    expect(step.with!['lock-stale-after']).toBe('${{ inputs.lock-stale-after }}')
    const release = workflow.jobs['release-lock']!
    expect(release.if).toBe('${{ inputs.release-lock }}')
    expect(release.environment).toBe('rollback-secrets')
    expect(release.steps!.find(s => s.id === 'action')!.with).toMatchObject({
      'release-lock': 'true',
      'push-token': '${{ secrets.ROLLBACK_PUSH_TOKEN }}'
    })
    // Releasing runs nothing else.
    expect(workflow.jobs.request!.if).toBe('${{ !inputs.release-lock }}')
    const dispatch = load('examples/workflows/rollback-dispatch.yml')
    expect(Object.values(dispatch.jobs)[0]!.with!['release-lock']).toBe(
      '${{ inputs.release-lock }}'
    )
  })

  it('checks out the commit GitHub recorded for the event (for a comment: the default branch)', () => {
    const checkouts = steps(workflow).filter(s => s.uses?.startsWith('actions/checkout@'))
    for (const step of checkouts) {
      if (step.with?.repository === 'emergency-rollback/emergency-rollback') {
        expect(step.with).toMatchObject({ ref: '${{ inputs.action-ref }}' })
        continue
      }
      // No ref at all: a ref taken from the event (a pull request head) would be attacker-chosen.
      expect(step.with).toEqual({ 'persist-credentials': false })
    }
  })

  it('passes the action only inputs that action.yml declares', () => {
    const action = parse(readFileSync('action.yml', 'utf8')) as { inputs: Record<string, unknown> }
    for (const job of ['plan', 'rollback', 'release-lock']) {
      const step = workflow.jobs[job]!.steps!.find(s => s.id === 'action')!
      expect(step.uses).toBe('./.emergency-rollback-action')
      for (const input of Object.keys(step.with!))
        expect(Object.keys(action.inputs)).toContain(input)
    }
  })

  it('uploads the report with an upload action that runs on node24, kept briefly', () => {
    for (const job of ['plan', 'rollback']) {
      const upload = workflow.jobs[job]!.steps!.find(s =>
        s.uses?.startsWith('actions/upload-artifact@')
      )!
      expect(upload.with!['retention-days']).toBeLessThanOrEqual(30)
    }
  })
})

describe('the example callers only call the reusable workflow', () => {
  const callers = readdirSync('examples/workflows').map(f => join('examples/workflows', f))

  it.each(callers)('%s', file => {
    const jobs = Object.values(load(file).jobs)
    expect(jobs).toHaveLength(1)
    expect(jobs[0]!.uses).toBe(PUBLISHED_WORKFLOW)
    expect(jobs[0]!.steps).toBeUndefined()
    expect(jobs[0]!.secrets).not.toBe('inherit')
  })

  it('ChatOps starts on new comments only and never reads the body into the call', () => {
    const workflow = load('examples/workflows/rollback-chatops.yml')
    expect(workflow.on).toEqual({ issue_comment: { types: ['created'] } })
    const job = Object.values(workflow.jobs)[0]!
    expect(JSON.stringify(job.with)).not.toContain('github.event')
  })

  it('the Run button leaves the git strategy to the runbook unless one is picked', () => {
    const workflow = load('examples/workflows/rollback-dispatch.yml')
    const input = (
      workflow.on.workflow_dispatch as {
        inputs: Record<string, { default?: string; options?: string[] }>
      }
    ).inputs['git-strategy']
    expect(input?.default).toBe('runbook')
    expect(input?.options).toEqual(['runbook', 'revert', 'reset'])
    const job = Object.values(workflow.jobs)[0]!
    // The reusable workflow takes '' as "the runbook's git.strategy".
    expect(job.with!['git-strategy']).toBe(
      "${{ inputs.git-strategy != 'runbook' && inputs.git-strategy || '' }}"
    )
  })

  it('the drill is scheduled and the three triggers are covered', () => {
    const triggers = callers.flatMap(file => Object.keys(load(file).on))
    expect(triggers).toEqual(
      expect.arrayContaining(['workflow_dispatch', 'issue_comment', 'schedule'])
    )
  })

  it('this project CI calls the reusable workflow from the checkout, in plan mode', () => {
    const ci = load('.github/workflows/ci.yml')
    const job = Object.values(ci.jobs).find(j => j.uses === `./${REUSABLE}`)!
    expect(job.with).toMatchObject({
      command: 'plan',
      runbook: 'examples/streaming-migration/rollback.yml',
      'action-from-checkout': true
    })
    const local = steps(ci).find(s => s.uses === './')!
    expect(local.with).toMatchObject({
      command: 'plan',
      runbook: 'examples/streaming-migration/rollback.yml'
    })
  })
})

describe('the request decision (decide step, run with bash)', () => {
  it('plan needs no gate; every run goes through the plan and its gate; a drill goes straight in', () => {
    const cases = [
      [{ command: 'plan', severity: 'high' }, 'plan', 'false'],
      [{ command: 'run', severity: 'high' }, 'rollback', 'true'],
      [{ command: 'run', severity: 'critical' }, 'rollback', 'true'],
      [{ command: 'drill' }, 'rollback', 'false']
    ] as const
    for (const [inputs, job, approval] of cases) {
      const { code, outputs } = dispatch({ ...inputs, runbook: '.github/rollback.yml' })
      expect({
        inputs,
        code,
        job: outputs.job,
        approval: outputs.approval,
        // No concurrency group to pick any more: every run waits in the one lock queue.
        queue: outputs.queue
      }).toEqual({ inputs, code: 0, job, approval, queue: undefined })
      expect(JSON.parse(outputs.request!)).toMatchObject(inputs)
    }
  })

  it('refuses values that only look right (case, spaces, line breaks)', () => {
    const lookalikes = [
      { command: 'run', severity: 'HIGH' },
      { command: 'run', severity: 'high\n' },
      { command: 'run', severity: ' high' },
      { command: 'run\n', severity: 'critical' },
      { command: 'Run', severity: 'critical' }
    ]
    for (const inputs of lookalikes) {
      const { code, outputs } = dispatch(inputs)
      expect({ inputs, code, job: outputs.job }).toEqual({ inputs, code: 1, job: undefined })
    }
  })

  it('a comment that was not accepted starts nothing', () => {
    for (const status of ['refused', 'ignored', '']) {
      const { code, outputs } = decide({
        EVENT_NAME: 'issue_comment',
        COMMENT_STATUS: status,
        COMMENT_REQUEST: JSON.stringify({ command: 'run', severity: 'critical' }),
        INPUTS: JSON.stringify({ command: 'run', severity: 'critical' })
      })
      expect({ code, outputs }).toEqual({ code: 0, outputs: { job: 'none' } })
    }
  })

  it('an accepted comment is decided from the comment, not from the caller inputs', () => {
    const { outputs } = decide({
      EVENT_NAME: 'issue_comment',
      COMMENT_STATUS: 'accepted',
      COMMENT_REQUEST: JSON.stringify({ command: 'run', severity: 'high', revert: 'a'.repeat(40) }),
      INPUTS: JSON.stringify({ command: 'run', severity: 'critical' })
    })
    expect(outputs).toMatchObject({ job: 'rollback', approval: 'true' })
    expect(JSON.parse(outputs.request!).revert).toBe('a'.repeat(40))
  })

  it('no spelling of a value slips past the gate, and no value is ever executed', () => {
    const near = (word: string) =>
      fc.constantFrom(
        word,
        word.toUpperCase(),
        ` ${word}`,
        `${word}\n`,
        `${word}\n::error::injected`,
        `$(touch pwned)`,
        '`touch pwned`',
        '${{ secrets.DATABASE_URL }}',
        ''
      )
    const severity = fc.oneof(near('high'), near('critical'), fc.string({ maxLength: 12 }))
    const command = fc.oneof(near('run'), near('plan'), near('drill'), fc.string({ maxLength: 8 }))
    fc.assert(
      fc.property(command, severity, (command, severity) => {
        const { code, stdout, outputs, dir } = dispatch({ command, severity })
        expect(readdirSync(dir)).not.toContain('pwned')
        if (code !== 0) {
          // One error line, the offending value quoted as JSON (no raw line break to inject with).
          expect(stdout.trimEnd().split('\n')).toEqual([
            expect.stringMatching(/^::error title=Invalid request::(command|severity): "/)
          ])
          expect(outputs.job).toBeUndefined()
          return
        }
        const request = JSON.parse(outputs.request!) as { command: string; severity: string }
        expect(['plan', 'run', 'drill']).toContain(request.command)
        expect(['critical', 'high', 'medium', 'low', '']).toContain(request.severity)
        expect(request).toMatchObject({ command, severity })
        expect(outputs.approval).toBe(String(command === 'run'))
        expect(outputs.job).toBe(command === 'plan' ? 'plan' : 'rollback')
      }),
      { numRuns: 25 }
    )
  })
})

/** GitHub's `startsWith` in expressions, as documented: not case sensitive, nothing trimmed. */
function githubStartsWith(text: string, prefix: string): boolean {
  return text.toUpperCase().startsWith(prefix.toUpperCase())
}

/** The comment workflows' job conditions, evaluated as GitHub would for a comment body. */
const commentConditions = files.flatMap(file => {
  const workflow = load(file)
  if (!('issue_comment' in workflow.on)) return []
  return Object.entries(workflow.jobs).map(([name, job]) => ({
    where: `${file} ${name}`,
    if: job.if
  }))
})

const CONDITION = /^startsWith\(github\.event\.comment\.body, '([^']*)'\)$/

function starts(condition: string | undefined, body: string): boolean {
  const prefix = CONDITION.exec(condition ?? '')?.[1]
  if (prefix === undefined) throw new Error(`not a condition this test can evaluate: ${condition}`)
  return githubStartsWith(body, prefix)
}

/** An in-memory GitHub for decide(): every commenter may write, every SHA exists. */
function answeringApi(): ChatOpsApi & { replies: string[] } {
  const replies: string[] = []
  return {
    replies,
    collaboratorPermission: async () => ({ permission: 'write' }),
    isTeamMember: async () => false,
    react: async () => {},
    reply: async (_issue, body) => {
      replies.push(body)
      return { id: replies.length, url: '' }
    },
    updateReply: async () => {},
    resolveCommit: async ref => ref.padEnd(40, '0').toLowerCase()
  }
}

describe('ChatOps: the workflow condition and the parser agree', () => {
  it("every comment workflow (examples and .github) starts on the parser's prefix", () => {
    expect(commentConditions.length).toBeGreaterThan(0)
    for (const { where, if: condition } of commentConditions)
      expect({ where, condition }).toEqual({
        where,
        condition: `startsWith(github.event.comment.body, '${CHATOPS_PREFIX}')`
      })
  })

  const mistyped = fc
    .tuple(
      fc.nat(8),
      fc.constantFrom('drop', 'insert', 'swap'),
      fc.string({ minLength: 1, maxLength: 1 })
    )
    .map(([at, how, char]) => {
      const word = '/rollback'
      const i = 1 + (at % (word.length - 1))
      if (how === 'drop') return word.slice(0, i) + word.slice(i + 1)
      if (how === 'insert') return word.slice(0, i) + char + word.slice(i)
      return word.slice(0, i) + char + word.slice(i + 1)
    })
  const firstWord = fc.oneof(
    fc.mixedCase(fc.constant('/rollback')),
    mistyped,
    fc.constantFrom('/rol', '/roll', '/rollbackplan', '/rollback:', '/deploy', 'rollback', '/'),
    fc.string({ maxLength: 10 })
  )
  const word = fc.oneof(
    fc.constantFrom('plan', 'run', 'drill', 'critical', 'High', 'revert=abc1234', 'please', ''),
    fc.string({ maxLength: 8 })
  )
  const body = fc.oneof(
    fc
      .tuple(
        fc.constantFrom('', ' ', '\t', '\n', '\r\n', '\u2028'),
        firstWord,
        fc.array(fc.tuple(fc.constantFrom(' ', '  ', '\t', ''), word), { maxLength: 5 }),
        fc.constantFrom('', '\nthanks', '\r\n/rollback run critical')
      )
      .map(([lead, first, rest, tail]) => lead + first + rest.flat().join('') + tail),
    fc.string({ maxLength: 60 })
  )

  it('a generated comment starts the job exactly when the action answers it', async () => {
    await fc.assert(
      fc.asyncProperty(body, async text => {
        const parsed = parseChatOpsComment(text)
        for (const { if: condition } of commentConditions)
          expect({ text, started: starts(condition, text) }).toEqual({
            text,
            started: parsed.kind !== 'not-a-command'
          })
        if (parsed.kind === 'not-a-command') return
        // Started: the commenter hears back (the command accepted, or why not and the usage).
        const api = answeringApi()
        const decision = await decideComment(
          {
            action: 'created',
            comment: { id: 1, body: text, user: { login: 'octo-writer', type: 'User' } },
            issue: { number: 7 },
            repository: { default_branch: 'main' }
          },
          { api, policy: { minimum: 'write', allow: [] }, ref: 'refs/heads/main' }
        )
        expect(decision.status).not.toBe('ignored')
        expect(api.replies).toHaveLength(1)
      }),
      { numRuns: 400 }
    )
  })
})
