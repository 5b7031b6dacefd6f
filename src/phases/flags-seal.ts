/**
 * Values the platform never returns (Vercel `sensitive`, Netlify secrets) cannot be compared with
 * the runbook's: without more, every rerun would set them again and start another build. The
 * builds this tool starts carry a seal of the values it set first (src/providers/seal.ts): a
 * variable that cannot be read counts as set when the live deployment, or a production build still
 * on its way, carries the seal of the runbook's values and was started after the variable last
 * changed (nobody changed it since).
 */
import type { Deployment, HostedEnv, HostingProvider } from '../providers/types.js'
import { SEAL_FIELD } from '../providers/seal.js'

/** What the runbook sets, in one canonical text (the same values and targets seal alike). */
function sealed(set: Record<string, string>, targets: readonly string[]): string {
  const values = Object.keys(set)
    .sort()
    .map(k => [k, set[k]])
  return JSON.stringify({ values, targets: [...targets].sort() })
}

/** The meta a durable build records: `{ rollbackValues }`, or nothing when the provider cannot seal. */
export function sealMeta(
  provider: HostingProvider,
  set: Record<string, string>,
  targets: readonly string[]
): Record<string, string> {
  return provider.seal ? { [SEAL_FIELD]: provider.seal(sealed(set, targets)) } : {}
}

export interface Vouched {
  /** The deployment that proves the unreadable values are set (live, or a pending build). */
  by: Deployment
  live: boolean
}

/**
 * The deployment that proves `unreadable` are set to the runbook's values, if any: the live one,
 * else (`lookPending`) a production build on its way.
 */
export async function vouchedFor(
  provider: HostingProvider,
  action: { set: Record<string, string>; targets: readonly string[] },
  unreadable: HostedEnv[],
  live: Deployment | undefined,
  lookPending: boolean
): Promise<Vouched | undefined> {
  const mark = sealMeta(provider, action.set, action.targets)[SEAL_FIELD]
  if (mark === undefined || unreadable.length === 0) return undefined
  const times = unreadable.map(e => e.updatedAt)
  // Without the time of the last change nothing proves the build came after it.
  if (times.some(t => t === undefined)) return undefined
  const since = Math.max(...(times as number[]))
  const startedAfter = (d: Deployment) => (d.buildingAt ?? d.createdAt ?? 0) > since
  if (live?.sealed === mark && startedAfter(live)) return { by: live, live: true }
  if (!lookPending) return undefined
  const pending = await provider.pendingProductionDeployments(since)
  const by = pending.find(d => d.sealed === mark && startedAfter(d))
  return by && { by, live: false }
}
