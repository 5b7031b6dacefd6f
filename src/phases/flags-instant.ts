/**
 * The flags phase's instant mitigation (runbook `flags.instant`): before the durable fix (flag
 * flip, fresh build, promote), serve the last READY production deployment built before the bad
 * change again (Vercel Instant Rollback, Netlify restore), then probe the verify checks once.
 * Users stop hurting in seconds; the rebuild that makes it last follows. When nothing qualifies
 * the run says so and goes straight to the durable fix; when production already serves an
 * instant rollback (a rerun after a crash, or a person's) it is kept, not rolled back further.
 */
import type { Dependencies } from '../dependencies.js'
import type {
  Cutoff,
  Deployment,
  HostingProvider,
  RollbackCandidate,
  RolledBack
} from '../providers/types.js'
import type { FlagsConfig, HttpCheck } from '../runbook/schema.js'
import { RollbackError } from '../util/errors.js'
import { probe } from './verify.js'

export interface InstantAction {
  /** Epoch ms: serve the newest deployment created before it (neither this nor `commit`: before the live one). */
  before?: number
  /** The bad commit as the runbook gives it (`flags.instant.before`), resolved in the checkout. */
  commit?: string
  /** The branch whose history a shallow checkout is deepened along to find `commit`. */
  history?: { remote: string; branch: string }
  /** The runbook's verify checks, each probed once after the rollback. */
  checks: HttpCheck[]
}

/** What the mitigation did, for the journal (step details) and the report. */
export interface Mitigation {
  /** The deployment served again (undefined: none qualified, or it was already served). */
  servedId?: string
  /** Epoch ms when production served it (the first user-visible fix). */
  mitigatedAt?: number
  /** Why there was no instant rollback, when there was none. */
  skipped?: string
  /** Checks that did not pass right after the rollback (the durable fix follows either way). */
  failedChecks: string[]
  /**
   * An instant rollback was asked for (served or refused): automatic assignment may be off, so the
   * durable build is promoted.
   */
  requested?: string
}

/** What the instant path found out before its first write. */
export interface InstantPlan {
  cutoff: Cutoff
  found: RollbackCandidate
  /** Production already serves an instant rollback (undefined: it does not). */
  rolledBack?: RolledBack
}

export type InstantDeps = Pick<Dependencies, 'log' | 'clock' | 'fetch' | 'redactor'>

const TIME = /^\d{4}-\d\d-\d\dT/

export function instantAction(
  flags: FlagsConfig,
  checks: HttpCheck[] = [],
  history?: InstantAction['history']
): InstantAction | undefined {
  if (flags.instant === undefined) return undefined
  if (flags.instant === true) return { checks }
  const given = flags.instant.before
  return TIME.test(given)
    ? { before: Date.parse(given), checks }
    : { commit: given, checks, history }
}

/** Says which deployment the cutoff means, in the plan's words (before the commit is resolved). */
export function describeCutoff(action: InstantAction): string {
  if (action.commit !== undefined) return `the last one built before commit ${action.commit}`
  return action.before === undefined
    ? 'the one before the live deployment'
    : `the last one created before ${new Date(action.before).toISOString()}`
}

/** The providers that can serve an earlier deployment again. */
export function supportsInstant(
  provider: HostingProvider
): provider is HostingProvider &
  Required<Pick<HostingProvider, 'rollbackCandidate' | 'rollBackTo'>> {
  return provider.rollbackCandidate !== undefined && provider.rollBackTo !== undefined
}

function built(d: Deployment): string {
  const at = d.buildingAt ?? d.createdAt
  return at === undefined ? '' : ` (built ${new Date(at).toISOString()})`
}

function keeping(rolledBack: RolledBack): string {
  return `production already serves an instant rollback to ${rolledBack.served.id}${built(rolledBack.served)}; it stays until the durable fix, rebuilt from ${rolledBack.rebuildFrom.id}, is promoted`
}

/** The plan line (and drill estimate) for what the instant path would do. */
export function plannedInstant({ found, cutoff, rolledBack }: InstantPlan): string {
  if (rolledBack) return `instant rollback: ${keeping(rolledBack)}`
  if (!found.candidate)
    return `instant rollback: no READY production deployment qualifies (${cutoff.label}); straight to the durable fix`
  if (found.candidate.id === found.live?.id)
    return `instant rollback: production already serves ${found.candidate.id}${built(found.candidate)} (${cutoff.label})`
  return `instant rollback first: serve ${found.candidate.id}${built(found.candidate)} again (${cutoff.label}), check it, then the durable fix below`
}

export async function mitigate(
  provider: HostingProvider,
  { found, cutoff, rolledBack }: InstantPlan,
  action: { checks: HttpCheck[]; timeoutMs: number },
  deps: InstantDeps
): Promise<Mitigation> {
  const { candidate, live } = found
  // A rerun after a crash (or a person's rollback): never roll back further than production is.
  if (rolledBack) {
    deps.log.info(`flags: ${keeping(rolledBack)}`)
    return { skipped: keeping(rolledBack), failedChecks: [] }
  }
  if (!candidate || !supportsInstant(provider)) {
    const skipped = `no READY production deployment qualifies (${cutoff.label})`
    deps.log.warn(`flags: instant rollback skipped: ${skipped}; going straight to the durable fix`)
    return { skipped, failedChecks: [] }
  }
  if (candidate.id === live?.id)
    return { skipped: `production already serves ${candidate.id}`, failedChecks: [] }
  deps.log.info(
    `flags: instant rollback to ${candidate.id}${built(candidate)}; production served ${live?.id ?? '(none)'} before`
  )
  try {
    await provider.rollBackTo(candidate.id, action.timeoutMs)
  } catch (err) {
    // Refused (a plan limit, a failed alias job) or not done in time: users still need the fix.
    if (!(err instanceof RollbackError)) throw err
    const skipped = `the instant rollback to ${candidate.id} did not happen: ${err.message}`
    deps.log.warn(`flags: ${skipped}; going straight to the durable fix`)
    return { skipped, failedChecks: [], requested: candidate.id }
  }
  const mitigatedAt = deps.clock.now()
  const failedChecks: string[] = []
  for (const check of action.checks) {
    const result = await probe(check, deps)
    if (!result.ok) failedChecks.push(`${check.name}: ${result.reason}`)
  }
  for (const failed of failedChecks)
    deps.log.warn(
      `flags: after the instant rollback, check ${failed}; ${candidate.id} stays served (the deployment it replaced is the bad one) and the durable fix follows`
    )
  return { servedId: candidate.id, mitigatedAt, failedChecks, requested: candidate.id }
}
