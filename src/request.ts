/**
 * Validates the raw inputs (action inputs or CLI flags, all strings) into a Request. Every problem
 * names the input and the fix; all are reported together, before anything runs.
 */
import { COMMANDS, RollbackError, type Command, type Request, type Trigger } from './model.js'
import {
  BRANCH_NAME,
  PHASES,
  SEVERITIES,
  type PhaseName,
  type Severity
} from './runbook/constants.js'
import { hideCredentials } from './util/credentials.js'
import { closest } from './util/closest.js'
import { parseDuration } from './util/duration.js'

/** The inputs that shape a request (besides `command`), as action inputs, CLI flags and ChatOps keys. */
export const REQUEST_INPUTS = [
  'severity',
  'phases',
  'git-strategy',
  'revert',
  'reset-to',
  'confirm',
  'branch',
  'expect-head'
] as const

export type RawInputs = Partial<Record<'command' | (typeof REQUEST_INPUTS)[number], string>>

export class InputError extends RollbackError {
  /** One line per problem; a value that looks like a credential is never repeated. */
  readonly problems: string[]

  constructor(problems: string[]) {
    const shown = problems.map(hideCredentials)
    super(shown.join('\n'), 'fix the inputs above; nothing was changed')
    this.name = 'InputError'
    this.problems = shown
  }
}

const SHA = /^[0-9a-f]{7,40}$/

/** "x: "v" is not one of a, b", with a "did you mean" for a typo such as critcal. */
export function notOneOf(name: string, value: string, allowed: readonly string[]): string {
  return `${name}: "${value}" is not one of ${allowed.join(', ')}${didYouMean(value, allowed)}`
}

function didYouMean(value: string, allowed: readonly string[]): string {
  const guess = closest(value, [...allowed])
  return guess ? ` (did you mean "${guess}"?)` : ''
}

export function parseRequest(raw: RawInputs, trigger: Trigger, runId: string): Request {
  const problems: string[] = []
  const value = (name: keyof RawInputs) => raw[name]?.trim() || undefined

  const command = (value('command') ?? 'plan') as Command
  if (!COMMANDS.includes(command)) {
    problems.push(notOneOf('command', command, COMMANDS))
  }

  const severityText = value('severity')
  let severity: Severity = 'critical'
  if (severityText === undefined) {
    if (command === 'run') {
      problems.push(`severity: required for command run; choose one of ${SEVERITIES.join(', ')}`)
    }
  } else if (!(SEVERITIES as readonly string[]).includes(severityText)) {
    problems.push(notOneOf('severity', severityText, SEVERITIES))
  } else {
    severity = severityText as Severity
  }

  const phases = parsePhases(value('phases'), problems)

  const revert = value('revert')
  if (revert !== undefined) problems.push(...checkRevertSpec(revert))

  // Asking for reset-to means asking for a reset: never fall back to the runbook's revert.
  const explicitStrategy = value('git-strategy')
  const strategy =
    explicitStrategy ??
    (value('reset-to') !== undefined || value('confirm') !== undefined ? 'reset' : undefined)
  if (strategy !== undefined && strategy !== 'revert' && strategy !== 'reset') {
    problems.push(
      `git-strategy: "${strategy}" is not revert or reset${didYouMean(strategy, ['revert', 'reset'])}`
    )
  }
  // A reset never reverts: commits given to revert would be silently left out.
  if (strategy === 'reset' && revert !== undefined) {
    problems.push('revert: give either revert (Option B) or reset-to (Option A), not both')
  }

  const resetTo = value('reset-to')?.toLowerCase()
  if (resetTo !== undefined && !SHA.test(resetTo)) {
    problems.push(
      `reset-to: "${resetTo}" is not a commit SHA (7 to 40 hex characters); pin the known-good commit, not a branch or tag`
    )
  }
  const confirm = value('confirm')?.toLowerCase()
  if (confirm !== undefined && !SHA.test(confirm)) {
    problems.push('confirm: repeat the reset-to SHA (at least 7 hex characters)')
  }
  // A drill given no commits resets to the runbook's drill range (git.drill) instead.
  if (strategy === 'reset' && resetTo === undefined && command !== 'drill') {
    problems.push('reset-to: required when git-strategy is reset')
  }
  if (strategy === 'reset' && command === 'run' && confirm === undefined) {
    problems.push('confirm: a reset discards commits; set confirm to the reset-to SHA to proceed')
  }
  if (strategy === 'revert' && resetTo !== undefined) {
    problems.push(
      'reset-to: only used with git-strategy reset; remove it or set git-strategy: reset'
    )
  }

  const branch = value('branch')
  if (branch !== undefined && !BRANCH_NAME.test(branch)) {
    problems.push(`branch: "${branch}" is not a valid branch name`)
  }

  const expectHead = value('expect-head')?.toLowerCase()
  if (expectHead !== undefined && !/^[0-9a-f]{40}$/.test(expectHead)) {
    problems.push(
      `expect-head: "${expectHead}" is not a full commit SHA (40 hex characters); give the plan's branch-head output, or leave it empty`
    )
  }

  if (problems.length > 0) throw new InputError(problems)
  return {
    command,
    severity,
    phases,
    gitStrategy: strategy as Request['gitStrategy'],
    revert,
    resetTo,
    confirm,
    branch,
    expectHead,
    trigger,
    runId
  }
}

function parsePhases(text: string | undefined, problems: string[]): PhaseName[] | undefined {
  if (text === undefined) return undefined
  const names = text.split(/[\s,]+/).filter(Boolean)
  if (names.length === 0) {
    problems.push(
      `phases: "${text}" names no phase, so nothing would be selected; choose from ${PHASES.join(', ')} or leave it empty for all`
    )
    return undefined
  }
  const unknown = names.filter(n => !(PHASES as readonly string[]).includes(n))
  if (unknown.length > 0) {
    problems.push(
      `phases: unknown phase(s) ${unknown.map(n => `${n}${didYouMean(n, PHASES)}`).join(', ')}; choose from ${PHASES.join(', ')}`
    )
  }
  return names.filter((n): n is PhaseName => (PHASES as readonly string[]).includes(n))
}

/** `A..B` or a list of SHAs; only SHAs, so what was approved is exactly what runs. */
export function checkRevertSpec(spec: string): string[] {
  const range = /^([^.\s]+)\.\.([^.\s]+)$/.exec(spec)
  if (spec.includes('...')) return [`revert: "${spec}" uses "..."; write a range as A..B`]
  const parts = range ? [range[1]!, range[2]!] : spec.split(/[\s,]+/).filter(Boolean)
  const bad = parts.filter(p => !SHA.test(p.toLowerCase()))
  if (bad.length > 0) {
    return [
      `revert: ${bad.map(b => `"${b}"`).join(', ')} is not a commit SHA; use SHAs (7-40 hex) as A..B or a list, not branch names`
    ]
  }
  return []
}

/** The longest lock-wait: longer than any sane queue of rollbacks, shorter than a job's limit. */
export const MAX_LOCK_WAIT = '2h'

/** The shortest lock-stale-after: a lock younger than this is never taken over. */
export const MIN_LOCK_STALE_AFTER = '10m'

/** lock-stale-after in ms: how old a lock must be before it may be taken over (its run ended). */
export function parseLockStaleAfter(text: string | undefined, fallback: string): number {
  const value = text?.trim() || fallback
  const ms = /^\d+(s|m|h)$/.test(value) ? parseDuration(value) : undefined
  if (ms === undefined || ms < parseDuration(MIN_LOCK_STALE_AFTER)) {
    throw new InputError([
      `lock-stale-after: "${value}" is not a duration of at least ${MIN_LOCK_STALE_AFTER} such as 90m or 3h`
    ])
  }
  return ms
}

/** lock-wait in ms: 0 (the default: refused at once) or a duration up to MAX_LOCK_WAIT. */
export function parseLockWait(text: string | undefined): number {
  const value = text?.trim() || '0'
  if (value === '0') return 0
  const ms = /^\d+(ms|s|m|h)$/.test(value) ? parseDuration(value) : undefined
  if (ms === undefined || ms > parseDuration(MAX_LOCK_WAIT)) {
    throw new InputError([
      `lock-wait: "${value}" is not 0 or a duration up to ${MAX_LOCK_WAIT} such as 30s, 15m or 1h`
    ])
  }
  return ms
}
