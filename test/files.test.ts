import { afterEach, describe, expect, it } from '@jest/globals'
import { validateRunbook } from '../src/runbook/validate.js'
import {
  clone,
  commit,
  git,
  makeRepo,
  push,
  remoteHasPath,
  remoteHead,
  type TestRepo
} from './support/git.js'
import { runPhase } from './support/git-phase.js'

let repo: TestRepo
afterEach(() => repo?.cleanup())

/** The problems of a runbook with this files section, as `path: message`. */
const problems = (files: unknown) =>
  validateRunbook({ version: 1, name: 't', files }).problems.map(
    p => `${p.path.join('.')}: ${p.message}`
  )

describe('files section validation', () => {
  it('rejects a path both protected and removed', () => {
    expect(problems({ protect: ['/lib/a.ts'], remove: ['lib/a.ts'] })).toEqual([
      'files.remove: protect/remove overlap: "/lib/a.ts" is protected but "lib/a.ts" is listed for removal; a path cannot be both kept and removed'
    ])
  })

  it('rejects a removed directory that holds a protected file', () => {
    const found = problems({ protect: ['app/admin/keep.tsx'], remove: ['app/admin/'] })
    expect(found).toHaveLength(1)
    expect(found[0]).toContain('"app/admin/" is listed for removal')
  })

  it('accepts removing a file inside a protected directory, and rejects ".." paths', () => {
    expect(problems({ protect: ['lib/'], remove: ['lib/v3.ts'] })).toEqual([])
    expect(problems({ remove: ['../etc/passwd'], protect: ['.'] })).toEqual([
      'files.protect.0: "." names the repository root',
      'files.remove.0: "../etc/passwd" must not contain ".", ".." or ".git" segments'
    ])
  })
})

function history() {
  repo = makeRepo({ 'lib/v2.ts': 'v2\n' })
  const base = git(repo.work, 'rev-parse', 'HEAD')
  commit(repo.work, 'streaming', {
    'lib/v3.ts': 'v3\n',
    'app/admin/streaming/page.tsx': 'p\n',
    'app/api/[id]/stream/route.ts': 'r\n'
  })
  const tip = commit(repo.work, 'diag', { 'diag.ts': 'd\n' })
  push(repo.work)
  return { base, tip }
}

const files = {
  protect: ['/lib/v2.ts'],
  remove: ['lib/v3.ts', 'app/admin/streaming/', 'app/api/[id]/stream/route.ts']
}

describe('files with the git phase', () => {
  it('removes listed paths in a commit before the push and keeps protected ones', async () => {
    const { tip } = history()
    const { result } = await runPhase({
      workdir: clone(repo),
      runbook: { git: { revert: tip }, files }
    })
    expect(result!.details!.filesRemoved).toEqual(files.remove.map(p => p.replace(/\/$/, '')))
    expect(result!.details!.filesKept).toEqual(['lib/v2.ts'])
    for (const path of [
      'lib/v3.ts',
      'app/admin/streaming/page.tsx',
      'app/api/[id]/stream/route.ts'
    ])
      expect(remoteHasPath(repo, path)).toBe(false)
    expect(remoteHasPath(repo, 'lib/v2.ts')).toBe(true)
    expect(remoteHasPath(repo, 'diag.ts')).toBe(false)
  })

  it('fails before pushing when the revert deletes a protected file', async () => {
    repo = makeRepo({ 'README.md': 'x\n' })
    const base = git(repo.work, 'rev-parse', 'HEAD')
    const tip = commit(repo.work, 'add v2 and v3', { 'lib/v2.ts': 'v2\n', 'lib/v3.ts': 'v3\n' })
    push(repo.work)
    const err = await runPhase({
      workdir: clone(repo),
      runbook: { git: { revert: `${base}..${tip}` }, files: { protect: ['lib/v2.ts'] } }
    }).catch(e => e)
    expect(err.message).toMatch(
      /protected path\(s\) missing after the rollback: lib\/v2.ts; nothing was pushed/
    )
    expect(remoteHead(repo)).toBe(tip)
  })
})

describe('files phase on its own', () => {
  it('removes and pushes, then a rerun changes nothing', async () => {
    const { tip } = history()
    const first = await runPhase({ phase: 'files', workdir: clone(repo), runbook: { files } })
    expect(first.notes[0]!.changes).toContain('remove lib/v3.ts (present on main now)')
    expect(first.result!.changed).toContain('removed app/admin/streaming')
    const head = remoteHead(repo)
    expect(head).not.toBe(tip)
    expect(git(repo.bare, 'log', '-1', '--format=%s', 'main')).toBe(
      'Remove files (emergency rollback)'
    )
    const again = await runPhase({ phase: 'files', workdir: clone(repo), runbook: { files } })
    expect(again.result!.changed).toEqual([])
    expect(remoteHead(repo)).toBe(head)
  })

  it('without a git step, a missing protected file fails the checks (before any phase changes anything)', async () => {
    const { tip } = history()
    const err = await runPhase({
      phase: 'files',
      workdir: clone(repo),
      runbook: { files: { protect: ['lib/gone.ts'], remove: ['lib/v3.ts'] } }
    }).catch(e => e)
    expect(err.message).toMatch(/^files\.protect: lib\/gone\.ts missing on origin\/main/)
    expect(remoteHead(repo)).toBe(tip)
  })

  it('drill reports what would be removed and pushes nothing', async () => {
    const { tip } = history()
    const { result } = await runPhase({
      phase: 'files',
      mode: 'drill',
      workdir: clone(repo),
      runbook: { files }
    })
    expect(result!.changed).toContain('drill: would have removed lib/v3.ts')
    expect(remoteHead(repo)).toBe(tip)
  })
})
