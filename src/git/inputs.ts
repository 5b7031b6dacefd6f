/**
 * The git step's action, resolved purely from the runbook and the request (request wins), and
 * validation of the user-supplied revisions. Only hex SHAs are accepted: no refs, no options.
 */
import { RollbackError } from '../util/errors.js'
import { BRANCH_NAME } from '../runbook/constants.js'
import type { Runbook } from '../runbook/schema.js'
import { normalizePath } from './paths.js'

/**
 * What the git step reads from a run's request. Declared here, not taken from the engine's model,
 * so this layer stays below the engine (the engine's Request satisfies it).
 */
export interface GitRequest {
  command: string
  gitStrategy?: 'revert' | 'reset'
  revert?: string
  resetTo?: string
  confirm?: string
  branch?: string
  /** The branch head the run must start from (what its plan was made against). */
  expectHead?: string
}

export interface FileRules {
  protect: string[]
  remove: string[]
}

export interface GitAction {
  strategy: 'revert' | 'reset'
  remote: string
  branch: string
  revert?: string
  resetTo?: string
  confirm?: string
  /** A run needs `confirm` for a reset; a plan shows what would be discarded without it. */
  confirmRequired: boolean
  mode: 'single' | 'per-commit'
  mainline?: number
  backupRefPrefix: string
  files: FileRules
  /** Why the step has nothing to do (no commits given anywhere); it is then reported, not run. */
  skip?: string
  /** A drill given no commits: the runbook's `git.drill` range, resolved against the branch. */
  drillRange?: DrillRange
  /** The branch head the plan was made against: the step refuses a branch that moved since. */
  expectHead?: string
}

export type DrillRange = { last: number } | { since: string }

export type RevertSpec =
  { kind: 'range'; from: string; to: string } | { kind: 'list'; shas: string[] }

const SHA = /^[0-9a-f]{7,40}$/i

export function fileRules(runbook: Runbook): FileRules {
  return {
    protect: (runbook.files?.protect ?? []).map(normalizePath),
    remove: (runbook.files?.remove ?? []).map(normalizePath)
  }
}

/** The remote and branch a run rolls back (the flags phase looks for a bad commit there too). */
export function gitTarget(
  runbook: Runbook,
  request: GitRequest
): { remote: string; branch: string } {
  return {
    remote: runbook.git?.remote ?? 'origin',
    branch: request.branch ?? runbook.git?.branch ?? 'main'
  }
}

export function gitAction(runbook: Runbook, request: GitRequest): GitAction {
  const git = runbook.git
  return {
    strategy: request.gitStrategy ?? git?.strategy ?? 'revert',
    ...gitTarget(runbook, request),
    revert: request.revert ?? git?.revert,
    resetTo: request.resetTo ?? git?.['reset-to'],
    confirm: request.confirm,
    // A drill only touches a scratch ref: nothing is discarded, so nothing is confirmed.
    confirmRequired: request.command === 'run',
    mode: git?.['revert-mode'] ?? 'single',
    mainline: git?.mainline,
    backupRefPrefix: (git?.['backup-ref-prefix'] ?? 'refs/rollback/backup').replace(/\/+$/, ''),
    files: fileRules(runbook),
    expectHead: request.expectHead,
    ...whatToDo(runbook, request)
  }
}

/** A drill given no commits takes the runbook's drill range; otherwise nothing requested = skip. */
function whatToDo(runbook: Runbook, request: GitRequest): Pick<GitAction, 'skip' | 'drillRange'> {
  const drillRange = runbook.git?.drill
  const commits = [request.revert, request.resetTo, runbook.git?.revert, runbook.git?.['reset-to']]
  const noCommits = commits.every(value => value === undefined || value === '')
  if (request.command === 'drill' && noCommits && drillRange) return { drillRange }
  const skip = nothingRequested(runbook, request)
  if (skip !== undefined && request.command === 'drill')
    return { skip: `${skip}; for drills, set git.drill (e.g. last: 5) in the runbook` }
  return skip === undefined ? {} : { skip }
}

/**
 * A runbook may carry a git section whose commits only come with an incident. Without any of
 * them (and no explicit strategy/confirm in the request) the git step is reported as skipped,
 * so a flags-only emergency run is not blocked; anything partial is validated (and refused).
 */
function nothingRequested(runbook: Runbook, request: GitRequest): string | undefined {
  const given = [
    request.gitStrategy,
    request.revert,
    request.resetTo,
    request.confirm,
    runbook.git?.revert,
    runbook.git?.['reset-to']
  ]
  if (given.some(value => value !== undefined && value !== '')) return undefined
  return 'no commits given: set revert (A..B or SHAs) or git-strategy reset with reset-to and confirm'
}

/** A run id as one ref name component (backup refs, drill branches). */
export function refComponent(runId: string): string {
  const safe = runId.replace(/[^A-Za-z0-9._-]/g, '-').replace(/\.{2,}/g, '.')
  return safe.replace(/^[.-]+|(\.lock)?[.]*$/g, '') || 'run'
}

export function checkBranch(branch: string): void {
  if (!BRANCH_NAME.test(branch)) {
    throw new RollbackError(
      `branch: "${branch}" is not a valid branch name`,
      'use a plain branch name such as main'
    )
  }
}

/** `A..B` or SHAs separated by spaces/commas; throws RollbackError naming the `revert` field. */
export function parseRevertSpec(raw: string | undefined): RevertSpec {
  const text = raw?.trim() ?? ''
  if (text === '') {
    throw new RollbackError(
      'revert: no commits to revert',
      'set revert (input) or git.revert (runbook) to a range A..B or a list of SHAs'
    )
  }
  if (text.includes('..')) {
    const match = /^([0-9a-f]{7,40})\.\.([0-9a-f]{7,40})$/i.exec(text)
    if (!match) {
      throw new RollbackError(
        `revert: "${text}" is not a range of two SHAs`,
        'write the range as OLD..NEW with two commit SHAs (7-40 hex characters), e.g. a1b2c3d..e4f5a6b; OLD itself is kept'
      )
    }
    return { kind: 'range', from: match[1]!.toLowerCase(), to: match[2]!.toLowerCase() }
  }
  const shas = text.split(/[\s,]+/).filter(Boolean)
  const bad = shas.filter(sha => !SHA.test(sha))
  if (bad.length > 0) {
    throw new RollbackError(
      `revert: ${bad.map(b => `"${b}"`).join(', ')} ${bad.length > 1 ? 'are not SHAs' : 'is not a SHA'}`,
      'list commit SHAs (7-40 hex characters) separated by spaces or commas, or give a range A..B'
    )
  }
  return { kind: 'list', shas: [...new Set(shas.map(s => s.toLowerCase()))] }
}

export function checkShaInput(field: 'reset-to' | 'confirm', value: string | undefined): string {
  const text = value?.trim() ?? ''
  if (text === '') {
    const hint =
      field === 'reset-to'
        ? 'set reset-to (input) or git.reset-to (runbook) to the known-good commit SHA'
        : 'a reset discards commits: repeat the target SHA (full or its first 7+ characters) in confirm'
    throw new RollbackError(`${field}: required for git-strategy reset`, hint)
  }
  if (!SHA.test(text)) {
    throw new RollbackError(
      `${field}: "${text}" is not a commit SHA`,
      'give a commit SHA: 7 to 40 hex characters'
    )
  }
  return text.toLowerCase()
}

export function describeDrillRange(range: DrillRange): string {
  return 'last' in range ? `the last ${range.last} commit(s)` : `the commits since ${range.since}`
}

export function describeAction(action: GitAction): string[] {
  if (action.strategy === 'reset' && action.drillRange) {
    return [
      `drill: reset ${action.remote}/${action.branch} to before ${describeDrillRange(action.drillRange)}, on a scratch ref that is then deleted`
    ]
  }
  if (action.strategy === 'reset') {
    return [
      `reset ${action.remote}/${action.branch} to ${action.resetTo ?? '(reset-to not set)'} with --force-with-lease`,
      `push the current head to ${action.backupRefPrefix}/<run-id> first (nothing is lost)`
    ]
  }
  if (action.drillRange) {
    return [
      `drill: revert ${describeDrillRange(action.drillRange)} of ${action.remote}/${action.branch} onto a scratch ref, then delete it`
    ]
  }
  const how = action.mode === 'single' ? 'in one commit' : 'one commit per reverted commit'
  return [
    `revert ${action.revert ?? '(revert not set)'} on ${action.remote}/${action.branch} ${how}, then push`
  ]
}

/**
 * Whether `confirm` may name the reset target: either may be abbreviated, so one being a prefix of
 * the other may match (against the resolved full SHA, confirm must be its prefix).
 */
export function confirmMayMatch(confirm: string, target: string): boolean {
  const [a, b] = [confirm.toLowerCase(), target.toLowerCase()]
  return a.startsWith(b) || b.startsWith(a)
}

export function confirmMismatch(confirm: string, target: string): RollbackError {
  return new RollbackError(
    `confirm: "${confirm}" does not match reset-to ${target}`,
    'a reset discards commits: type the reset-to SHA (full, or its first 7+ characters) into confirm'
  )
}
