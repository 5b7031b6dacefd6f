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
