/** An error whose message is already fit for the operator: no stack trace needed. */
export class RollbackError extends Error {
  constructor(
    message: string,
    readonly hint?: string
  ) {
    super(message)
    this.name = 'RollbackError'
  }
}

/**
 * A secret this environment does not provide (a token, the database URL), so a check could not be
 * made here. A run fails on it; a plan, often made where production secrets are not given, warns.
 */
export class MissingSecretError extends RollbackError {
  constructor(message: string, hint?: string) {
    super(message, hint)
    this.name = 'MissingSecretError'
  }
}

/** A problem with one runbook field, found by checking the runbook's own text. */
export interface FieldProblem {
  /** Dotted, e.g. database.steps[0].batch-update.where. */
  field: string
  /** What is wrong and the fix, without the field. */
  message: string
}

/**
 * A check's error as a field problem. Messages name their field first (`<field> must be ...`,
 * `<field>: refusing ...`), which may be deeper than `within`, the part being checked.
 */
export function asFieldProblem(err: unknown, within: string): FieldProblem {
  if (!(err instanceof RollbackError)) throw err
  const named = err.message.startsWith(within)
    ? /^[^\s:]+/.exec(err.message)![0].replace(/[.,;]+$/, '')
    : within
  const rest = err.message.startsWith(named)
    ? err.message.slice(named.length).replace(/^:?\s*/, '')
    : err.message
  return { field: named, message: err.hint ? `${rest}; ${err.hint}` : rest }
}
