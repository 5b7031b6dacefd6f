/** Pure parts of the git phase: input parsing, plan, auth origin, push failure explanations. */
import { describe, expect, it } from '@jest/globals'
import { basicCredential, httpOrigin } from '../src/git/auth.js'
import { checkShaInput, parseRevertSpec, refComponent } from '../src/git/inputs.js'
import { explainPushFailure } from '../src/git/push.js'
import { revertMessage } from '../src/git/revert.js'
import { filesPhase } from '../src/phases/files.js'
import { gitPhase } from '../src/phases/git.js'
import { testContext, testRequest, testRunbook } from './support/context.js'

const A = 'a'.repeat(40)
const B = 'b'.repeat(40)

describe('revert input', () => {
  it('parses a range and a list (spaces or commas), lower-casing and de-duplicating', () => {
    expect(parseRevertSpec(` ${A.slice(0, 7)}..${B} `)).toEqual({
      kind: 'range',
      from: 'aaaaaaa',
      to: B
    })
    expect(parseRevertSpec('ABCDEF1, abcdef1 1234567')).toEqual({
      kind: 'list',
      shas: ['abcdef1', '1234567']
    })
  })

  it.each([
    [undefined, /revert: no commits to revert/],
    ['main', /revert: "main" is not a SHA/],
    ['--force', /is not a SHA/],
    [`${A}...${B}`, /is not a range of two SHAs/],
    ['abc123', /is not a SHA/]
  ])('rejects %s naming the revert field', (raw, message) => {
    expect(() => parseRevertSpec(raw)).toThrow(message)
  })

  it('requires reset-to and confirm to be SHAs', () => {
    expect(() => checkShaInput('reset-to', undefined)).toThrow(/reset-to: required/)
    expect(() => checkShaInput('confirm', 'HEAD~1')).toThrow(
      /confirm: "HEAD~1" is not a commit SHA/
    )
    expect(checkShaInput('confirm', 'ABCDEF1')).toBe('abcdef1')
  })
})

describe('plan (pure)', () => {
  it('plans one mutating git step; request values win over the runbook', () => {
    const runbook = testRunbook({ git: { revert: `${A}..${B}`, branch: 'main' } })
    const [step] = gitPhase.plan(runbook, testRequest({ branch: 'release', revert: B }))
    expect(step!.mutates).toBe(true)
    expect(step!.title).toBe(`revert ${B} on release`)
    expect(step!.action).toMatchObject({ strategy: 'revert', branch: 'release', revert: B })
  })

  it('describes a reset with its backup ref', () => {
    const runbook = testRunbook({ git: { strategy: 'reset', 'reset-to': A } })
    const [step] = gitPhase.plan(runbook, testRequest())
    expect(step!.changes.join('\n')).toContain('refs/rollback/backup/<run-id>')
  })

  it('plans no git step without a git section, and a files step with normalised paths', () => {
    expect(gitPhase.plan(testRunbook(), testRequest())).toEqual([])
    const [step] = filesPhase.plan(
      testRunbook({ files: { protect: ['/lib/v2.ts'], remove: ['app/admin/x/'] } }),
      testRequest()
    )
    expect(step!.action.rules).toEqual({ protect: ['lib/v2.ts'], remove: ['app/admin/x'] })
  })
})

describe('auth', () => {
  it('matches http(s) remotes by origin only', () => {
    expect(httpOrigin('https://github.com/o/r.git')).toBe('https://github.com/')
    expect(httpOrigin('http://127.0.0.1:8080/r.git')).toBe('http://127.0.0.1:8080/')
    expect(httpOrigin('git@github.com:o/r.git')).toBeUndefined()
    expect(httpOrigin('file:///tmp/r.git')).toBeUndefined()
    expect(Buffer.from(basicCredential('tok'), 'base64').toString()).toBe('x-access-token:tok')
  })
})

describe('push failures', () => {
  const target = { remote: 'origin', src: 'HEAD', dst: 'refs/heads/main', expected: A }
  it('explains a 403 with a permissions hint', () => {
    const err = explainPushFailure(target, {
      exitCode: 128,
      stdout: '',
      stderr:
        'remote: Permission to o/r.git denied to github-actions[bot].\nfatal: unable to access: The requested URL returned error: 403\n'
    })
    expect(err.message).toContain('remote: Permission to o/r.git denied')
    expect(err.hint).toContain('contents: write')
  })

  it('explains a non-fast-forward rejection', () => {
    const err = explainPushFailure(target, {
      exitCode: 1,
      stdout: '!\tHEAD:refs/heads/main\t[rejected] (fetch first)\n',
      stderr: ''
    })
    expect(err.message).toContain('the branch moved')
  })
})

describe('push failures: a race and a protected branch are told apart', () => {
  const target = { remote: 'origin', src: 'HEAD', dst: 'refs/heads/main', expected: A }
  const rejected = (reason: string, stderr = '') =>
    explainPushFailure(target, {
      exitCode: 1,
      stdout: `To https://github.com/o/r.git\n!\tHEAD:refs/heads/main\t${reason}\nDone\n`,
      stderr
    })
  const race = /someone pushed meanwhile|lost a race on the server/
  it.each([
    ['[rejected] (stale info)', ''],
    ['[remote rejected] (failed to update ref)', ''],
    [
      "[remote rejected] (cannot lock ref 'refs/heads/main': is at 1234567 but expected 89abcde)",
      ''
    ],
    ['[remote rejected] (incorrect old value provided)', '']
  ])('%s is a race: the branch was not changed, rerun', (reason, stderr) => {
    const err = rejected(reason, stderr)
    expect(err.message).toMatch(race)
    expect(err.message).toContain('the branch was not changed')
    expect(err.hint).toContain('rerun')
    expect(err.hint).not.toMatch(/protect/)
  })

  it.each([
    [
      '[remote rejected] (protected branch hook declined)',
      'remote: error: GH006: Protected branch update failed for refs/heads/main.\n'
    ],
    ['[remote rejected] (pre-receive hook declined)', 'remote: rejected by policy\n']
  ])('%s is a protection rule, with its own hint', (reason, stderr) => {
    const err = rejected(reason, stderr)
    expect(err.message).toMatch(/refused by a branch protection rule or server hook/)
    expect(err.message).not.toMatch(race)
    expect(err.hint).toMatch(/protected/)
  })

  it('a lease on a ref that must not exist says so', () => {
    const err = explainPushFailure(
      { ...target, dst: 'refs/rollback/drill/x', expected: null },
      {
        exitCode: 1,
        stdout: '!\tHEAD:refs/rollback/drill/x\t[rejected] (stale info)\n',
        stderr: ''
      }
    )
    expect(err.message).toContain('the lease expected no such ref')
  })
})

describe('revert message', () => {
  it('names every reverted SHA and the run', () => {
    const message = revertMessage(
      [
        { sha: B, parents: [A], subject: 'two' },
        { sha: A, parents: [], subject: 'one' }
      ],
      'run 42 (https://github.com/o/r/actions/runs/42)'
    )
    expect(message.split('\n')[0]).toBe('Revert 2 commits (emergency rollback)')
    expect(message).toContain(`This reverts commit ${B}.\nThis reverts commit ${A}.`)
    expect(message).toContain('actions/runs/42')
  })
})

describe('git step without commits', () => {
  it('is planned as a read-only skipped step so a flags-only run is not blocked', async () => {
    const [step] = gitPhase.plan(testRunbook({ git: {} }), testRequest())
    expect(step!.mutates).toBe(false)
    expect(step!.title).toContain('no commits given')
    const result = await gitPhase.run(step!, testContext())
    expect(result.status).toBe('skipped')
  })

  it('is validated as soon as anything is requested', () => {
    const [step] = gitPhase.plan(testRunbook({ git: {} }), testRequest({ gitStrategy: 'reset' }))
    expect(step!.mutates).toBe(true)
  })
})

describe('run ids in ref names', () => {
  it('makes any run id a valid ref component', () => {
    expect(refComponent('12345-1')).toBe('12345-1')
    expect(refComponent('a..b/c d')).toBe('a.b-c-d')
    expect(refComponent('-x.lock')).toBe('x')
    expect(refComponent('..')).toBe('run')
  })
})
