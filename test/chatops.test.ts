/**
 * ChatOps end to end against the local GitHub stand-in: authorisation per repository role and
 * allowlist, the refusal and invalid paths (reply, reaction, nothing run), and an accepted command
 * (reaction at once, commits pinned to full SHAs, one reply updated in place, final reaction).
 */
import { afterEach, describe, expect, it } from '@jest/globals'
import { chatOpsApi } from '../src/chatops/github-api.js'
import { parseAllowlist, type AuthorizationPolicy } from '../src/chatops/authorize.js'
import type { CommentEvent } from '../src/chatops/comment.js'
import { handleComment, type ReplyTarget } from '../src/chatops/run.js'
import { GitHubClient } from '../src/github/client.js'
import { RollbackError } from '../src/util/errors.js'
import type { RawInputs } from '../src/request.js'
import { startGitHubStandin, type GitHubStandin } from './support/github-standin.js'
import { recordingLogger } from './support/context.js'

const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  while (closers.length) await closers.pop()!()
})

const GOOD = 'a'.repeat(39) + '1'
const BAD = 'b'.repeat(39) + '2'

async function world() {
  const github = await startGitHubStandin({
    issues: [7],
    collaborators: {
      'octo-admin': 'admin',
      'octo-maintainer': 'maintain',
      'octo-writer': 'write',
      'octo-triager': 'triage',
      'octo-reader': 'read',
      'octo-custom': 'write',
      'octo-custom-triage': 'triage',
      'octo-custom-maintain': 'maintain',
      'octo-custom-read': 'read'
    },
    roles: {
      'octo-custom': 'release-manager',
      'octo-custom-triage': 'incident-triager',
      'octo-custom-maintain': 'release-lead',
      'octo-custom-read': 'auditor'
    },
    teams: { 'acme/oncall': ['octo-writer'] },
    commits: [GOOD, BAD]
  })
  closers.push(github.close)
  const client = new GitHubClient({
    apiUrl: github.url,
    token: github.token,
    owner: github.owner,
    repo: github.repo,
    limits: { secondMs: 1 }
  })
  // The stand-in's first comment has id 1: the command itself.
  const command = await client.createComment(7, 'placeholder')
  return { github, api: chatOpsApi(client), commandId: command.id }
}

function event(
  body: string,
  user: string,
  commentId: number,
  action = 'created',
  type = 'User'
): CommentEvent {
  return {
    action,
    comment: { id: commentId, body, user: { login: user, type } },
    issue: { number: 7 },
    repository: { default_branch: 'main' }
  }
}

const writePolicy: AuthorizationPolicy = { minimum: 'write', allow: [] }

async function handle(
  w: Awaited<ReturnType<typeof world>>,
  body: string,
  user: string,
  over: Partial<{
    policy: AuthorizationPolicy
    ref: string
    mode: 'run' | 'gate'
    action: string
    type: string
  }> = {}
) {
  const runs: Array<{ inputs: RawInputs; reply: ReplyTarget }> = []
  const log = recordingLogger()
  const outcome = await handleComment({
    event: event(body, user, w.commandId, over.action, over.type),
    api: w.api,
    policy: over.policy ?? writePolicy,
    ref: over.ref ?? 'refs/heads/main',
    mode: over.mode ?? 'run',
    log,
    run: async (inputs, reply) => {
      runs.push({ inputs, reply })
      await reply.onProgress('| step | status |\n|---|---|\n| flags | running |')
      return {
        status: 'succeeded',
        markdown: '| step | status |\n|---|---|\n| flags | succeeded |'
      }
    }
  })
  const mine = (g: GitHubStandin) => g.comments.filter(c => c.id !== w.commandId)
  return { outcome, runs, replies: mine(w.github), log }
}

const writes = (g: GitHubStandin) => g.requests.filter(r => r.method !== 'GET')

describe('ChatOps', () => {
  it.each([
    ['octo-admin', true],
    ['octo-maintainer', true],
    ['octo-writer', true],
    ['octo-custom', true],
    ['octo-triager', false],
    ['octo-reader', false],
    ['stranger', false]
  ])('authorises %s by repository role (minimum write): %s', async (user, allowed) => {
    const w = await world()
    const { outcome, runs, replies } = await handle(w, '/rollback plan', user)
    expect(outcome.status).toBe(allowed ? 'succeeded' : 'refused')
    expect(runs).toHaveLength(allowed ? 1 : 0)
    if (!allowed) {
      // Refused: one reply naming the permission needed, a reaction, nothing else.
      expect(replies).toHaveLength(1)
      expect(replies[0]!.body).toMatch(/needs write or higher/)
      const command = w.github.comments.find(c => c.id === w.commandId)!
      expect(command.reactions).toEqual(['-1'])
      expect(writes(w.github).map(r => `${r.method} ${r.path}`)).toEqual([
        'POST /repos/acme/outline-app/issues/7/comments',
        `POST /repos/acme/outline-app/issues/comments/${w.commandId}/reactions`,
        'POST /repos/acme/outline-app/issues/7/comments'
      ])
    }
  })

  it('a stricter minimum refuses maintainers; maintain is read from role_name, not permission', async () => {
    const w = await world()
    const admin = { minimum: 'admin', allow: [] } as AuthorizationPolicy
    expect(
      (await handle(w, '/rollback', 'octo-maintainer', { policy: admin })).outcome.status
    ).toBe('refused')
    const maintain = { minimum: 'maintain', allow: [] } as AuthorizationPolicy
    expect(
      (await handle(w, '/rollback', 'octo-maintainer', { policy: maintain })).outcome.status
    ).toBe('succeeded')
  })

  it('the allowlist narrows it further: users and org/team', async () => {
    const w = await world()
    const policy: AuthorizationPolicy = { minimum: 'write', allow: ['octo-admin', 'acme/oncall'] }
    expect((await handle(w, '/rollback', 'octo-admin', { policy })).outcome.status).toBe(
      'succeeded'
    )
    expect((await handle(w, '/rollback', 'octo-writer', { policy })).outcome.status).toBe(
      'succeeded'
    )
    // As chatops-allow is written: a leading @, the team's name rather than its slug.
    const named: AuthorizationPolicy = { minimum: 'write', allow: parseAllowlist('@acme/OnCall') }
    expect((await handle(w, '/rollback', 'octo-writer', { policy: named })).outcome.status).toBe(
      'succeeded'
    )
    const refused = await handle(w, '/rollback', 'octo-maintainer', { policy })
    expect(refused.outcome.status).toBe('refused')
  })

  it('a refusal by the allowlist says what is needed in public; who is on it only in the log', async () => {
    const w = await world()
    const allow = ['octo-admin', 'incident-lead', 'acme/oncall', 'acme/sre-core']
    const policy: AuthorizationPolicy = { minimum: 'write', allow }
    const refused = await handle(w, '/rollback run critical', 'octo-maintainer', { policy })
    expect(refused.outcome.status).toBe('refused')
    const reply = refused.replies.at(-1)!.body
    expect(reply).toMatch(/needs write access or higher and a place on the workflow's allowlist/)
    expect(reply).toMatch(/ask a maintainer/)
    for (const entry of [...allow, 'oncall', 'sre-core']) expect(reply).not.toContain(entry)
    // The run log (seen by those who can read the workflow run) names the list.
    expect(refused.log.lines.join('\n')).toContain(allow.join(', '))
  })

  it('ignores comments that are not commands, and edits, without a word', async () => {
    const w = await world()
    for (const [body, action] of [
      ['thanks, /rollback later', 'created'],
      ['/rollback run critical', 'edited']
    ] as const) {
      const before = w.github.requests.length
      const { outcome, runs } = await handle(w, body, 'octo-admin', { action })
      expect(outcome.status).toBe('ignored')
      expect(runs).toEqual([])
      expect(w.github.requests.length).toBe(before)
    }
  })

  it.each([
    ['triage', 'octo-custom-triage', true],
    ['maintain', 'octo-custom-maintain', true],
    ['admin', 'octo-custom-maintain', false],
    ['write', 'octo-custom-read', false],
    ['read', 'octo-custom-read', true]
  ] as const)(
    'a custom role counts as its base role (the permissions flags), minimum %s: %s allowed %s',
    async (minimum, user, allowed) => {
      // GitHub's `permission` shows a maintain base as write and a triage base as read.
      const w = await world()
      const policy: AuthorizationPolicy = { minimum, allow: [] }
      const { outcome } = await handle(w, '/rollback plan', user, { policy })
      expect(outcome.status).toBe(allowed ? 'succeeded' : 'refused')
    }
  )

  it('says a non-collaborator (GitHub answers 404) has no access', async () => {
    const w = await world()
    const { outcome, replies } = await handle(w, '/rollback run critical', 'stranger')
    expect(outcome.status).toBe('refused')
    expect(w.github.requestsTo(/\/collaborators\/stranger\/permission$/)[0]!.status).toBe(404)
    expect(replies[0]!.body).toMatch(/@stranger has no access to this repository/)
  })

  it.each([
    ['github-actions[bot]', 'Bot'],
    ['renovate[bot]', 'Bot'],
    ['incident-app[bot]', 'User']
  ])('ignores a command from the bot %s without a word or a call', async (login, type) => {
    const w = await world()
    const before = w.github.requests.length
    const { outcome, runs } = await handle(w, '/rollback run critical', login, { type })
    expect(outcome.status).toBe('ignored')
    expect(runs).toEqual([])
    expect(w.github.requests.length).toBe(before)
  })

  it('a comment on a pull request is read like one on an issue (its head is never used)', async () => {
    const w = await world()
    const runs: RawInputs[] = []
    const outcome = await handleComment({
      event: {
        ...event('/rollback plan high', 'octo-writer', w.commandId),
        issue: { number: 7, pull_request: { url: 'https://api.github.example/pulls/7' } }
      },
      api: w.api,
      policy: writePolicy,
      ref: 'refs/heads/main',
      mode: 'gate',
      log: recordingLogger(),
      run: async inputs => {
        runs.push(inputs)
        return { status: 'planned', markdown: '' }
      }
    })
    expect(outcome.status).toBe('accepted')
    expect(JSON.parse(outcome.request!)).toMatchObject({ command: 'plan', severity: 'high' })
    expect(runs).toEqual([])
    expect(w.github.comments.find(c => c.id === w.commandId)!.reactions).toEqual(['eyes'])
  })

  it.each([
    [
      'a team in chatops-allow that the token cannot read',
      /\/teams\/oncall\/memberships\//,
      'Resource not accessible by integration',
      /Members: read/
    ],
    [
      "a token that may not read the commenter's role",
      /\/permission$/,
      'Must have push access to view collaborator permission.',
      /push access/
    ]
  ])('%s: an error naming what the token needs', async (_case, path, message, hint) => {
    const w = await world()
    w.github.failNext(path, { status: 403, message })
    const policy: AuthorizationPolicy = { minimum: 'write', allow: ['acme/oncall'] }
    const failure = handle(w, '/rollback plan', 'octo-writer', { policy })
    await expect(failure).rejects.toMatchObject({ status: 403, hint: expect.stringMatching(hint) })
  })

  it.each([
    ['/rollback run critcal', 'did you mean "critical"?'],
    ['/rollback run critical revert=$(curl evil)', 'shell syntax'],
    ['/rollback run critical revert=${{ secrets.X }}', 'expressions'],
    [`/rollback run critical revert=${'c'.repeat(40)}`, 'does not exist in this repository'],
    // The inputs' own rules (src/request.ts), before the command is accepted:
    ['/rollback run', 'severity: required for command run'],
    ['/rollback run critical strategy=rset', 'did you mean "reset"?'],
    ['/rollback plan phases=gti', 'did you mean "git"?'],
    [`/rollback run critical reset-to=${GOOD.slice(0, 7)}`, 'confirm: a reset discards commits'],
    ['/rollback drill branch=..', 'branch: ".." is not a valid branch name']
  ])(
    'answers an invalid command %j with the error and the usage; nothing runs',
    async (body, why) => {
      const w = await world()
      const { outcome, runs, replies } = await handle(w, body, 'octo-writer')
      expect(outcome.status).toBe('failed')
      expect(runs).toEqual([])
      expect(replies).toHaveLength(1)
      expect(replies[0]!.body).toContain(why)
      expect(replies[0]!.body).toMatch(/Usage:[\s\S]*\/rollback \[plan\|run\|drill\]/)
      expect(w.github.comments.find(c => c.id === w.commandId)!.reactions).toEqual(['confused'])
    }
  )

  it('refuses to run from a branch other than the default branch', async () => {
    const w = await world()
    const { outcome, runs, replies } = await handle(w, '/rollback plan', 'octo-admin', {
      ref: 'refs/pull/9/merge'
    })
    expect(outcome.status).toBe('failed')
    expect(runs).toEqual([])
    expect(replies[0]!.body).toMatch(/must come from the default branch/)
  })

  it('accepted: eyes at once, SHAs pinned, one reply updated in place, a final reaction', async () => {
    const w = await world()
    const { outcome, runs, replies } = await handle(
      w,
      `/rollback run critical revert=${GOOD.slice(0, 8)}..${BAD.slice(0, 8)}\nplease hurry`,
      'octo-writer'
    )
    expect(outcome.status).toBe('succeeded')
    expect(runs).toHaveLength(1)
    expect(runs[0]!.inputs).toEqual({
      command: 'run',
      severity: 'critical',
      revert: `${GOOD}..${BAD}`
    })
    expect(runs[0]!.reply).toMatchObject({ actor: 'octo-writer', issueNumber: 7 })
    expect(replies).toHaveLength(1)
    const reply = replies[0]!
    expect(reply.id).toBe(runs[0]!.reply.replyId)
    expect(reply.body).toContain(`${GOOD}..${BAD}`)
    expect(reply.body).toMatch(/\| flags \| succeeded \|/)
    // Updated in place: the progress update and the final body, both PATCHes of the same reply.
    expect(w.github.requestsTo(new RegExp(`/issues/comments/${reply.id}$`), 'PATCH')).toHaveLength(
      2
    )
    expect(w.github.comments.find(c => c.id === w.commandId)!.reactions).toEqual(['eyes', 'rocket'])
  })

  it('names the values as the comment does (strategy, not the git-strategy input)', async () => {
    const w = await world()
    const { replies } = await handle(w, '/rollback run critical strategy=rset', 'octo-writer')
    expect(replies[0]!.body).toContain('strategy: "rset" is not revert or reset')
    expect(replies[0]!.body).not.toContain('git-strategy')
  })

  it('a run that throws still ends the reply: why it stopped, a thumbs-down, the error passed on', async () => {
    const w = await world()
    const failure = handleComment({
      event: event('/rollback run critical', 'octo-writer', w.commandId),
      api: w.api,
      policy: writePolicy,
      ref: 'refs/heads/main',
      mode: 'run',
      log: recordingLogger(),
      secrets: ['hostingSecret0123456789'],
      run: async () => {
        throw new RollbackError(
          'runbook: file not found (token hostingSecret0123456789)',
          'set the runbook input'
        )
      }
    })
    await expect(failure).rejects.toThrow('runbook: file not found')
    const reply = w.github.comments.find(c => c.id !== w.commandId)!
    expect(reply.body).toMatch(/^👀 \*\*\/rollback run\*\* from @octo-writer/)
    expect(reply.body).toMatch(
      /The rollback stopped[\s\S]*runbook: file not found \(token \*\*\*\)\nset the runbook input/
    )
    expect(reply.body).not.toContain('hostingSecret0123456789')
    expect(w.github.comments.find(c => c.id === w.commandId)!.reactions).toEqual(['eyes', '-1'])
  })

  it('gate mode replies and hands the pinned request on, running nothing', async () => {
    const w = await world()
    const { outcome, runs, replies } = await handle(
      w,
      `/rollback run high revert=${GOOD.slice(0, 7)}`,
      'octo-admin',
      {
        mode: 'gate'
      }
    )
    expect(runs).toEqual([])
    expect(outcome.status).toBe('accepted')
    expect(JSON.parse(outcome.request!)).toEqual({
      command: 'run',
      severity: 'high',
      revert: GOOD,
      reply: String(replies[0]!.id)
    })
  })
})
