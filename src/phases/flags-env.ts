/**
 * The flags phase's view of a platform: which stored entry holds a variable's current value for
 * the runbook's targets, by the provider's capabilities (no platform is named here).
 */
import { RollbackError } from '../util/errors.js'
import type { ProviderCapabilities } from '../providers/module.js'
import { sameTargets, type EnvTarget, type HostedEnv } from '../providers/types.js'
import { showValue } from './flags-values.js'

/** Names the platform in messages (HostingProvider.description). */
export interface Holder {
  description: string
}

/** Exactly the runbook's set of targets; an overlapping other set is the platform's conflict. */
function fromTargetSets(
  mine: HostedEnv[],
  key: string,
  targets: EnvTarget[],
  caps: ProviderCapabilities,
  where: string
): HostedEnv | undefined {
  const same = mine.find(e => sameTargets(e.targets, targets))
  const clash = mine.find(e => e !== same && e.targets.some(t => targets.includes(t)))
  if (!same && clash)
    throw new RollbackError(
      `${key} exists on ${where} for targets [${clash.targets.join(', ')}], but the runbook sets it for [${targets.join(', ')}]${caps.conflict ? `: ${caps.conflict}` : ''}`,
      `Set flags.targets to [${clash.targets.join(', ')}], or split the variable per environment in ${caps.dashboard}.`
    )
  return same
}

/** One value per target: the targets' values as one entry when they agree, else a refusal. */
function fromPerTarget(
  mine: HostedEnv[],
  key: string,
  targets: EnvTarget[],
  caps: ProviderCapabilities,
  where: string
): HostedEnv | undefined {
  const found = targets.map(t => mine.find(e => e.targets.includes(t)))
  if (found.every(e => e === undefined)) return undefined
  const values = new Set(found.map(e => (e ? `=${e.value ?? '(unreadable)'}` : '(not set)')))
  const shown = (e: HostedEnv) =>
    e.value === undefined ? '=(unreadable)' : `=${showValue(key, e.value, e, caps)}`
  if (values.size > 1)
    throw new RollbackError(
      `${key} has different values for [${targets.join(', ')}] on ${where} (${targets.map((t, i) => `${t}${found[i] ? shown(found[i]!) : ' not set'}`).join(', ')}): one undo value cannot restore them`,
      `Set flags.targets to targets that share one value, or give them one value in ${caps.dashboard} first.`
    )
  const entries = found as HostedEnv[]
  const times = entries.map(e => e.updatedAt)
  return {
    ...entries[0]!,
    targets: [...targets],
    updatedAt: times.every(t => t !== undefined) ? Math.max(...(times as number[])) : undefined
  }
}

/** The stored entry that holds `key` for exactly `targets` (undefined: not set there). */
export function currentEntry(
  entries: HostedEnv[],
  key: string,
  targets: EnvTarget[],
  caps: ProviderCapabilities,
  holder: Holder
): HostedEnv | undefined {
  const mine = entries.filter(e => e.key === key)
  const read = caps.envTargets === 'per-target' ? fromPerTarget : fromTargetSets
  return read(mine, key, targets, caps, holder.description)
}
