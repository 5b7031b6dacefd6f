/**
 * The one switch between checking and changing. Every call that changes something outside the
 * process asks the run's gate first: pushes (GitCommandManager.push), hosting writes (the gated
 * provider), database sessions (opened read-only while the gate is shut), comments, issues and the
 * webhook. The engine opens it only after every preflight passed, and never for `plan`; so a
 * refused input changes nothing by construction, and a test can assert it by looking at the gate.
 */
import { RollbackError } from './errors.js'

/**
 * `closed`: nothing may change (plan, preflight). `notices`: preflight failed, only the closing
 * notices that say why may go out. `open`: every check passed, the run changes things.
 */
export type GateState = 'closed' | 'notices' | 'open'

/** How many refused attempts the gate remembers (for tests and the debug log); the rest are counted. */
const REMEMBERED = 50

export class MutationGate {
  private current: GateState = 'closed'
  private readonly refusedList: string[] = []
  private refusedCount = 0

  get state(): GateState {
    return this.current
  }

  /** Every check passed: the run may change things. */
  open(): void {
    this.current = 'open'
  }

  /** A check failed: closing notices may still say so, nothing else may change. */
  allowNotices(): void {
    if (this.current === 'closed') this.current = 'notices'
  }

  /** Attempts the gate refused, oldest first (the first few; `refusedTotal` counts them all). */
  get refused(): readonly string[] {
    return this.refusedList
  }

  get refusedTotal(): number {
    return this.refusedCount
  }

  /** Throws unless the gate is open; `what` names the change ("push to origin refs/heads/main"). */
  assertOpen(what: string): void {
    if (this.current !== 'open') this.refuse(what)
  }

  /** Throws unless closing notices (or everything) may go out; `what` names the notice. */
  assertMayNotify(what: string): void {
    if (this.current === 'closed') this.refuse(what)
  }

  private refuse(what: string): never {
    this.refusedCount += 1
    if (this.refusedList.length < REMEMBERED) this.refusedList.push(what)
    throw new RollbackError(
      `refused to ${what}: nothing may change before every preflight check has passed (the mutation gate is ${this.current})`,
      'this is a bug in the rollback tool: a change was attempted outside a run step; please report it'
    )
  }
}

/** A gate that is already open: for code that runs outside the engine (ChatOps replies, tools). */
export function openGate(): MutationGate {
  const gate = new MutationGate()
  gate.open()
  return gate
}
