/**
 * Validates runbook data (already parsed from YAML): the generated schema validator, which also
 * fills in defaults, then the rules across fields. Returns every problem, or the typed runbook.
 */
import { schemaProblems, type SchemaError, type SchemaProblem } from './issues.js'
import { ruleProblems } from './rules.js'
import type { Runbook } from './schema.js'
import { validate } from './validate.generated.js'

export type { SchemaProblem } from './issues.js'

type GeneratedValidator = ((data: unknown) => boolean) & { errors?: SchemaError[] | null }

export type Validation = { runbook: Runbook; problems: [] } | { problems: SchemaProblem[] }

export function validateRunbook(data: unknown): Validation {
  // The validator fills defaults in place: work on a copy so the caller's data stays as written.
  const copy = structuredClone(data)
  const check = validate as GeneratedValidator
  const valid = check(copy)
  const problems = valid ? [] : schemaProblems(check.errors ?? [], copy)
  if (typeof copy === 'object' && copy !== null && !Array.isArray(copy)) {
    problems.push(...ruleProblems(copy as Record<string, unknown>))
  }
  return problems.length === 0 ? { runbook: copy as Runbook, problems: [] } : { problems }
}

/** For code that builds runbooks itself (tests, benchmarks): the runbook, or an error listing why not. */
export function runbookFrom(data: unknown): Runbook {
  const result = validateRunbook(data)
  if ('runbook' in result) return result.runbook
  throw new Error(
    `invalid runbook:\n${result.problems.map(p => `${p.path.join('.')}: ${p.message}`).join('\n')}`
  )
}
