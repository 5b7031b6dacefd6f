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
