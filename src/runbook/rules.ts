/**
 * Runbook rules a JSON Schema does not express (across fields, or computed). They run on the data
 * after schema validation and read it defensively, so they can report alongside schema problems.
 */
import { checkShaInput, parseRevertSpec } from '../git/inputs.js'
import { overlapProblems, pathProblem } from '../git/paths.js'
import { asFieldProblem } from '../util/errors.js'

export interface RuleProblem {
  path: (string | number)[]
  message: string
}

type Data = Record<string, unknown>

const isObject = (v: unknown): v is Data => typeof v === 'object' && v !== null && !Array.isArray(v)
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : [])
const strings = (v: unknown): string[] => list(v).filter(x => typeof x === 'string')
const isEmptyObject = (v: unknown) => isObject(v) && Object.keys(v).length === 0

function hostingRules(hosting: unknown): RuleProblem[] {
  if (!isObject(hosting) || hosting.provider !== 'github-variables') return []
  const problems: RuleProblem[] = []
  if (hosting.workflow === undefined) {
    problems.push({
      path: ['hosting', 'workflow'],
      message:
        'required: provider github-variables needs `workflow` (the deploy workflow file, e.g. deploy.yml)'
    })
  }
  if (typeof hosting.project === 'string' && !/^[\w.-]+\/[\w.-]+$/.test(hosting.project)) {
    problems.push({
      path: ['hosting', 'project'],
      message: 'provider github-variables needs `project: owner/repo`'
    })
  }
  return problems
}

function databaseRules(database: unknown): RuleProblem[] {
  if (!isObject(database)) return []
  return list(database.steps).flatMap((step, i): RuleProblem[] => {
    if (!isObject(step)) return []
    const path = ['database', 'steps', i]
    const kinds = ['batch-update', 'drop-index', 'sql'].filter(k => k in step)
    if (kinds.length !== 1) {
      return [{ path, message: 'expected exactly one of batch-update, drop-index or sql' }]
    }
    if ('acknowledge-data-loss' in step && !('sql' in step)) {
      return [{ path: [...path, 'acknowledge-data-loss'], message: 'applies to sql steps only' }]
    }
    const update = step['batch-update']
    if (isObject(update) && isEmptyObject(update.set)) {
      return [{ path: [...path, 'batch-update', 'set'], message: 'expected at least one column' }]
    }
    return []
  })
}

function integrityRules(integrity: unknown): RuleProblem[] {
  return list(integrity).flatMap((check, i): RuleProblem[] =>
    isObject(check) && isEmptyObject(check.expect)
      ? [{ path: ['integrity', i, 'expect'], message: 'expected one of rows, max-rows or value' }]
      : []
  )
}

function filesRules(files: unknown): RuleProblem[] {
  if (!isObject(files)) return []
  const problems: RuleProblem[] = []
  for (const key of ['protect', 'remove'] as const) {
    for (const [i, path] of list(files[key]).entries()) {
      const problem = typeof path === 'string' && path !== '' ? pathProblem(path) : undefined
      if (problem) problems.push({ path: ['files', key, i], message: problem })
    }
  }
  for (const overlap of overlapProblems(strings(files.protect), strings(files.remove))) {
    problems.push({
      path: ['files', 'remove'],
      message: `protect/remove overlap: ${overlap}; a path cannot be both kept and removed`
    })
  }
  return problems
}

/** The commits the runbook names are checked as the same inputs are: SHAs only, found now. */
function gitRules(git: unknown): RuleProblem[] {
  if (!isObject(git)) return []
  const checks: [string, (value: string) => unknown][] = [
    ['revert', parseRevertSpec],
    ['reset-to', value => checkShaInput('reset-to', value)]
  ]
  return checks.flatMap(([field, check]): RuleProblem[] => {
    const value = git[field]
    if (typeof value !== 'string' || value.trim() === '') return []
    try {
      check(value)
      return []
    } catch (err) {
      return [{ path: ['git', field], message: asFieldProblem(err, field).message }]
    }
  })
}

/** The flags phase changes variables on the hosting platform: without `hosting` it has none. */
function flagsNeedHosting(runbook: Data): RuleProblem[] {
  if (!isObject(runbook.flags) || runbook.hosting !== undefined) return []
  return [
    {
      path: ['hosting'],
      message:
        'required when `flags` is set: add `hosting: { provider: vercel, project: <id or name> }` (or netlify, github-variables), the platform whose variables the flags phase changes, or remove `flags`'
    }
  ]
}

export function ruleProblems(runbook: Data): RuleProblem[] {
  const flags = runbook.flags
  return [
    ...hostingRules(runbook.hosting),
    ...flagsNeedHosting(runbook),
    ...(isObject(flags) && isEmptyObject(flags.set)
      ? [{ path: ['flags', 'set'], message: 'expected at least one variable' }]
      : []),
    ...databaseRules(runbook.database),
    ...gitRules(runbook.git),
    ...integrityRules(runbook.integrity),
    ...filesRules(runbook.files)
  ]
}
