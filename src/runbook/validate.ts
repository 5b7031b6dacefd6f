/**
 * Validates runbook data (already parsed from YAML): the generated schema validator, which also
 * fills in defaults, the duration bounds, the rules across fields, and the scan for pasted
 * secrets. Returns every
 * problem, or the typed runbook.
 */
import { schemaProblems, type SchemaError, type SchemaProblem } from './issues.js'
import { durationProblems } from './duration-bounds.js'
import { ruleProblems } from './rules.js'
import { findSecretValues } from './secrets.js'
import type { Runbook } from './schema.js'
import { validate } from './validate.generated.js'

export type { SchemaProblem } from './issues.js'

type GeneratedValidator = ((data: unknown) => boolean) & { errors?: SchemaError[] | null }

export type Validation =
  | { runbook: Runbook; problems: [] }
  | { problems: SchemaProblem[]; /** Schema errors counted but not described. */ unlisted: number }

/**
 * Schema errors described one by one; beyond this they are only counted (a file of thousands of
 * unknown keys is one mistake, and describing each costs time nobody reads).
 */
const MAX_DESCRIBED_ERRORS = 1000

/**
 * A copy for the validator to fill defaults into, with nothing shared: a YAML alias makes two
 * places one object, and defaults filled for one would land in the other. Keys that would reach
 * an object's prototype and self-referencing aliases are problems, not data.
 */
function treeCopy(
  value: unknown,
  path: (string | number)[],
  problems: SchemaProblem[],
  open = new Set<unknown>()
): unknown {
  if (typeof value === 'string' && value.includes('\0')) {
    problems.push({ path, message: 'contains a NUL character (\\0): remove it' })
    return value
  }
  if (typeof value !== 'object' || value === null) return value
  if (open.has(value)) {
    problems.push({ path, message: 'refers to itself through a YAML alias' })
    return null
  }
  open.add(value)
  let copy: unknown
  if (Array.isArray(value)) {
    copy = value.map((item, i) => treeCopy(item, [...path, i], problems, open))
  } else {
    const entries: [string, unknown][] = []
    for (const [key, item] of Object.entries(value)) {
      if (key === '__proto__') {
        problems.push({
          path: [...path, key],
          key,
          message: 'a key named __proto__ is not allowed'
        })
      }
      // fromEntries defines own properties: a "__proto__" entry stays a key, never a prototype.
      entries.push([key, treeCopy(item, [...path, key], problems, open)])
    }
    copy = Object.fromEntries(entries)
  }
  open.delete(value)
  return copy
}

export function validateRunbook(data: unknown): Validation {
  const problems: SchemaProblem[] = []
  const copy = treeCopy(data, [], problems)
  const check = validate as GeneratedValidator
  // concat, not push(...): a runbook with very many problems must not overflow the stack.
  let all = problems
  const errors = check(copy) ? [] : (check.errors ?? [])
  all = all.concat(schemaProblems(errors.slice(0, MAX_DESCRIBED_ERRORS), copy))
  if (typeof copy === 'object' && copy !== null && !Array.isArray(copy)) {
    all = all.concat(ruleProblems(copy as Record<string, unknown>))
  }
  all = all.concat(durationProblems(copy), findSecretValues(copy))
  const unlisted = Math.max(0, errors.length - MAX_DESCRIBED_ERRORS)
  return all.length + unlisted === 0
    ? { runbook: copy as Runbook, problems: [] }
    : { problems: all, unlisted }
}

/** For code that builds runbooks itself (tests, benchmarks): the runbook, or an error listing why not. */
export function runbookFrom(data: unknown): Runbook {
  const result = validateRunbook(data)
  if ('runbook' in result) return result.runbook
  throw new Error(
    `invalid runbook:\n${result.problems.map(p => `${p.path.join('.')}: ${p.message}`).join('\n')}`
  )
}
