/**
 * Whether a deployment may be served by an instant rollback (types.ts Cutoff): one that served
 * production before (a staged build never did: serving it would release unreleased code, and
 * Vercel only rolls back to deployments that were aliased to production), then git ancestry of its
 * source commit when the cutoff can tell, else its creation time. Shared by every provider.
 */
import type { Cutoff, Deployment } from './types.js'

export async function qualifies(d: Deployment, cutoff: Cutoff, live?: Deployment) {
  if (d.state !== 'READY' || d.staged) return false
  const verdict = d.commitSha && cutoff.clean ? await cutoff.clean(d.commitSha) : undefined
  if (verdict !== undefined) return verdict
  const at = cutoff.before ?? live?.createdAt
  return at !== undefined && d.createdAt !== undefined && d.createdAt < at
}

/** The first of `deployments` (newest first) that qualifies, judged in order. */
export async function newestQualifying(
  deployments: readonly Deployment[],
  cutoff: Cutoff,
  live?: Deployment
): Promise<Deployment | undefined> {
  for (const d of deployments) if (await qualifies(d, cutoff, live)) return d
  return undefined
}
