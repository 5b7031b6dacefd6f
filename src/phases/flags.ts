/**
 * flags phase: set environment variables on the hosting platform (e.g.
 * NEXT_PUBLIC_USE_STREAMING=false), redeploy with a fresh build, wait until it is live.
 * Old values are recorded for undo before anything changes; a rerun whose values already match
 * and whose live deployment was built after they changed does nothing. What differs between
 * platforms (how targets are stored, build-time names, staged builds, the fast undo) comes from
 * the provider's capabilities (src/providers/module.ts), never from its name.
 */
import type { Dependencies } from '../dependencies.js'
import { RollbackError, type PhaseModule, type Request, type StepResult } from '../model.js'
import { capabilitiesOf } from '../providers/registry.js'
import type { ProviderCapabilities } from '../providers/module.js'
import type {
  Deployment,
  EnvTarget,
  HostedEnv,
  HostingProvider,
  RolledBack
} from '../providers/types.js'
import type { Checkout } from '../git/session.js'
import { currentEntry } from './flags-env.js'
import {
  HIDDEN,
  isBuildTime,
  plainly,
  redactSecrets,
  showValue,
  transition,
  valueShown
} from './flags-values.js'
import type { Redactor } from '../util/redact.js'
import {
  describeCutoff,
  instantAction,
  mitigate,
  plannedInstant,
  supportsInstant,
  type InstantAction,
  type InstantPlan,
  type Mitigation
} from './flags-instant.js'
import { cutoffFor } from './flags-cutoff.js'
import { sealMeta, vouchedFor } from './flags-seal.js'
import { gitTarget } from '../git/inputs.js'
import type { Runbook } from '../runbook/schema.js'
import { formatDuration, parseDuration } from '../util/duration.js'

export interface FlagsAction {
  set: Record<string, string>
  targets: EnvTarget[]
  /** The runbook's `hosting.provider`: what the platform can do comes from its capabilities. */
  provider?: string
  /** Redeploy after setting: runbook `redeploy`, or forced because a build-time variable changes. */
  redeploy: boolean
  waitTimeoutMs: number
  /** Runbook `flags.instant`: serve an earlier deployment again first, then the durable fix. */
  instant?: InstantAction
}

interface Inspection {
  /** The stored entry with exactly the runbook's targets, per key. */
  exact: Map<string, HostedEnv>
  /** Keys whose value must change. */
  diff: string[]
  live?: Deployment
  /** The live deployment was built after every variable's last change. */
  liveHasValues: boolean
  /** A production build started after the last change and still on its way (a crashed run's). */
  pending?: Deployment
  /** Production builds wait to be promoted (capabilities.stagedBuilds): promote ours. */
  staged: boolean
  /** Production serves an instant rollback: the durable fix rebuilds what it replaced instead. */
  rolledBack?: RolledBack
}

/**
 * `live`: the live deployment when the caller already asks for it (the instant path's listing
 * names it), so it is not read twice.
 */
async function inspect(
  provider: HostingProvider,
  action: FlagsAction,
  caps: ProviderCapabilities,
  redactor: Redactor,
  live?: Promise<Deployment | undefined>
): Promise<Inspection> {
  const keys = Object.keys(action.set)
  // Independent reads, concurrently (each is a round trip to the platform).
  const [entries, liveNow, rolledBack] = await Promise.all([
    provider.readEnv(keys),
    live ?? provider.currentProductionDeployment(),
    action.redeploy ? provider.rolledBack?.() : undefined
  ])
  redactSecrets(action, entries, caps, redactor)
  const state = await inspected(provider, action, keys, entries, liveNow, caps)
  return { ...state, rolledBack }
}

async function inspected(
  provider: HostingProvider,
  action: FlagsAction,
  keys: string[],
  entries: HostedEnv[],
  live: Deployment | undefined,
  caps: ProviderCapabilities
): Promise<Inspection> {
  const exact = new Map<string, HostedEnv>()
  for (const key of keys) {
    const current = currentEntry(entries, key, action.targets, caps, provider)
    if (current) exact.set(key, current)
  }
  const unreadable = [...exact.values()].filter(e => e.value === undefined)
  const vouched = await vouchedFor(provider, action, unreadable, live, action.redeploy)
  // An unreadable value counts as the runbook's only when a build of ours vouches for it.
  const diff = keys.filter(k => {
    const stored = exact.get(k)
    if (stored && stored.value === undefined) return vouched === undefined
    return stored?.value !== action.set[k]
  })
  const builtAt = live?.buildingAt ?? live?.createdAt
  const liveHasValues =
    live !== undefined &&
    builtAt !== undefined &&
    keys.every(k => {
      const updated = exact.get(k)?.updatedAt
      return updated !== undefined && builtAt > updated
    })
  let pending = vouched && !vouched.live ? vouched.by : undefined
  if (action.redeploy && diff.length === 0 && !liveHasValues && !pending) {
    const lastChange = Math.max(...keys.map(k => exact.get(k)?.updatedAt ?? 0))
    if (lastChange > 0) [pending] = await provider.pendingProductionDeployments(lastChange)
  }
  const staged = action.redeploy && !(await provider.autoAssignsProduction())
  return { exact, diff, live, liveHasValues, pending, staged }
}

function planned(
  action: FlagsAction,
  provider: string,
  caps: ProviderCapabilities,
  state?: Inspection
): string[] {
  const where = `(${action.targets.join(', ')})`
  const lines: string[] = []
  if (action.instant && !state)
    lines.push(
      `instant rollback first: serve ${describeCutoff(action.instant)} among READY production deployments again, check it, then the durable fix`
    )
  lines.push(
    ...Object.entries(action.set).map(([key, value]) => {
      // Before preflight the stored type is unknown: only plainly safe values are shown.
      if (!state)
        return `set ${key}${plainly(key, value, caps) ? `=${value}` : ` ${HIDDEN}`} ${where} on ${provider}`
      const old = state.exact.get(key)
      if (!state.diff.includes(key)) {
        const shown = showValue(key, value, old, caps)
        return `${key} ${where}: ${shown === HIDDEN ? `unchanged ${HIDDEN}` : `already ${value} (unchanged)`}`
      }
      return transition(key, where, old, value, caps)
    })
  )
  if (action.redeploy) {
    if (state && state.diff.length === 0 && state.liveHasValues)
      lines.push(`no redeploy: live deployment ${state.live!.id} was built with these values`)
    else if (state?.pending)
      lines.push(
        `wait for production deployment ${state.pending.id} (${state.pending.state}), already building with these values`
      )
    else {
      const source = state && rebuildSource(state)
      lines.push(
        `redeploy production${source ? ` from ${source.id}` : ''} with a fresh build (no build cache) and wait until it is live (up to ${formatDuration(action.waitTimeoutMs)})`
      )
    }
  }
  if (state?.staged && !(state.diff.length === 0 && state.liveHasValues) && caps.stagedBuilds)
    lines.push(caps.stagedBuilds)
  return lines
}

function recoveryFor(
  provider: HostingProvider,
  action: FlagsAction,
  state: Inspection,
  caps: ProviderCapabilities
): string[] {
  const restores = state.diff.map(key => {
    const old = state.exact.get(key)
    if (!old) return `delete ${key}`
    if (old.value === undefined) return `restore ${key} from your secret store (it was ${old.type})`
    if (!valueShown(key, old.value, old, caps))
      return `restore ${key} from your secret store (its ${old.type} value is kept out of this report)`
    return `set ${key}=${old.value}`
  })
  const lines = [
    `flags: previous values on ${provider.description} (${action.targets.join(', ')}): ${restores.join(', ')}${action.redeploy ? ', then redeploy' : ''}`
  ]
  if (action.redeploy && state.live && caps.instantRollback)
    lines.push(
      `flags: the previous production deployment ${state.live.id} (https://${state.live.url}) still has the old values built in: ${caps.instantRollback} restores them in seconds`
    )
  return lines
}

/** What the durable fix rebuilds: the live deployment, or what it replaced when production serves a rollback. */
function rebuildSource(state: Inspection): Deployment | undefined {
  return state.rolledBack?.rebuildFrom ?? state.live
}

function requireLive(
  state: Inspection,
  provider: HostingProvider,
  caps: ProviderCapabilities
): Deployment {
  const buildTime = caps.buildTimePrefixes.map(p => `${p}*`).join(', ')
  if (!state.live)
    throw new RollbackError(
      `no production deployment found on ${provider.description} to redeploy`,
      `Deploy the project to production once (or set flags.redeploy: false${buildTime ? ` when no ${buildTime} variable changes` : ''}).`
    )
  return state.live
}

type FlagsDeps = Pick<
  Dependencies,
  'hosting' | 'log' | 'run' | 'clock' | 'fetch' | 'redactor' | 'checkout'
>

type Listing = Omit<InstantPlan, 'rolledBack'>

/** The instant path was given up before its first write: why (it only speeds the fix up). */
interface Skipped {
  skipped: string
}

/** What a step's preflight hands its run: an instant listing that failed is not tried again. */
export interface FlagsChecked {
  instantSkipped?: string
}

const isSkipped = (listing: Listing | Skipped | undefined): listing is Skipped =>
  listing !== undefined && 'skipped' in listing

/**
 * The instant path's cutoff (a commit is resolved in the checkout, or the step fails) and its
 * listing (live deployment and candidate), when the runbook asks for it. A listing that fails
 * (a page cap, a 5xx) skips the instant rollback instead of refusing the step: the durable fix
 * does not need it.
 */
function instantListing(
  provider: HostingProvider,
  action: FlagsAction,
  checkout: Checkout,
  skipped?: string
): Promise<Listing | Skipped> | undefined {
  const instant = action.instant
  if (!instant || !supportsInstant(provider)) return undefined
  if (skipped !== undefined) return Promise.resolve({ skipped })
  return cutoffFor(instant, checkout).then(async cutoff => {
    try {
      return { cutoff, found: await provider.rollbackCandidate(cutoff) }
    } catch (err) {
      if (!(err instanceof RollbackError)) throw err
      const hint = err.hint ? ` (${err.hint})` : ''
      return {
        skipped: `the deployments to roll back to could not be listed: ${err.message}${hint}`
      }
    }
  })
}

/**
 * What preflight and drill both read, without changing anything: access checked, the platform's
 * state for the step's variables and, for flags.instant, the deployment it would serve.
 */
async function observe(action: FlagsAction, deps: FlagsDeps, checked?: FlagsChecked) {
  await deps.hosting.provider().checkAccess()
  return read(action, deps, checked)
}

/** The platform's state for the step's variables and, for flags.instant, its deployment listing. */
async function read(action: FlagsAction, deps: FlagsDeps, checked?: FlagsChecked) {
  const provider = deps.hosting.provider()
  const caps = capabilitiesOf(action.provider)
  const listing = instantListing(provider, action, deps.checkout, checked?.instantSkipped)
  // The listing names the live deployment; without it the durable path reads it itself.
  const live = listing?.then(l =>
    isSkipped(l) ? provider.currentProductionDeployment() : l.found.live
  )
  const state = await inspect(provider, action, caps, deps.redactor, live)
  return { provider, caps, listing, state }
}

export const flagsPhase: PhaseModule<FlagsAction, keyof FlagsDeps, FlagsChecked> = {
  phase: 'flags',
  needs: ['hosting', 'log', 'run', 'clock', 'fetch', 'redactor', 'checkout'],
  plan(runbook: Runbook, request: Request) {
    const flags = runbook.flags
    if (flags === undefined) return []
    const caps = capabilitiesOf(runbook.hosting?.provider)
    const action: FlagsAction = {
      provider: runbook.hosting?.provider,
      set: { ...flags.set },
      targets: [...flags.targets],
      redeploy: flags.redeploy || Object.keys(flags.set).some(k => isBuildTime(k, caps)),
      waitTimeoutMs: parseDuration(flags['wait-timeout']),
      instant: instantAction(flags, runbook.verify?.checks, gitTarget(runbook, request))
    }
    const provider = runbook.hosting
      ? `${runbook.hosting.provider} project ${runbook.hosting.project}`
      : 'the hosting platform'
    return [
      {
        id: 'flags',
        phase: 'flags',
        title: `Set ${Object.keys(flags.set).join(', ')} on ${provider}${action.redeploy ? ' and redeploy' : ''}`,
        changes: planned(action, provider, caps),
        mutates: true,
        stage: 'main',
        action
      }
    ]
  },

  async preflight(steps, deps) {
    const notes = []
    const checked = new Map<string, FlagsChecked>()
    for (const step of steps) {
      const { provider, caps, listing, state } = await observe(step.action, deps)
      const converged = state.diff.length === 0 && (state.liveHasValues || state.pending)
      if (step.action.redeploy && !converged) requireLive(state, provider, caps)
      const instant = step.action.instant && (await listing)
      if (isSkipped(instant)) checked.set(step.id, { instantSkipped: instant.skipped })
      notes.push({
        stepId: step.id,
        changes: [
          ...(step.action.instant && !converged ? [instantLine(provider, state, instant)] : []),
          ...planned(step.action, provider.description, caps, state)
        ],
        details: {
          liveDeployment: state.live?.id,
          liveUrl: state.live && `https://${state.live.url}`,
          ...(instant && !isSkipped(instant) ? { instantCutoff: instant.cutoff.label } : {}),
          ...(isSkipped(instant) ? { instantSkipped: instant.skipped } : {})
        }
      })
    }
    return { notes, checked }
  },

  async run(step, deps, checked) {
    return converge(step.action, deps, checked)
  },

  async drill(step, deps, checked): Promise<StepResult> {
    const { provider, caps, listing, state } = await observe(step.action, deps, checked)
    if (step.action.redeploy) requireLive(state, provider, caps)
    const found = await listing
    const instant = step.action.instant && instantLine(provider, state, found)
    return {
      status: 'succeeded',
      changed: [],
      details: {
        checked: ['token accepted', 'project found', 'env readable', 'production deployment found'],
        wouldChange: [
          ...(instant ? [instant] : []),
          ...planned(step.action, provider.description, caps, state)
        ],
        liveDeployment: state.live?.id,
        // A drill does not rebuild: the last production build's time stands in for the wait.
        ...(step.action.redeploy ? buildEstimate(state.live) : {}),
        // Production already serving an instant rollback is kept, not rolled back further.
        ...(instant && !state.rolledBack && found && !isSkipped(found)
          ? { instantRollbackTo: found.found.candidate?.id }
          : {}),
        ...(isSkipped(found) ? { instantSkipped: found.skipped } : {})
      }
    }
  }
}

function instantLine(
  provider: HostingProvider,
  state: Inspection,
  listing: Listing | Skipped | undefined
): string {
  if (!listing)
    return `instant rollback: ${provider.description} cannot serve an earlier deployment again; straight to the durable fix`
  if (isSkipped(listing))
    return `instant rollback skipped: ${listing.skipped}; straight to the durable fix`
  return plannedInstant({ ...listing, rolledBack: state.rolledBack })
}

async function converge(
  action: FlagsAction,
  deps: FlagsDeps,
  checked?: FlagsChecked
): Promise<StepResult> {
  const { provider, caps, listing, state } = await read(action, deps, checked)
  const liveUrl = state.live && `https://${state.live.url}`
  if (state.diff.length === 0 && (!action.redeploy || state.liveHasValues)) {
    deps.log.info(`flags: values already set${action.redeploy ? ' and live' : ''}; nothing to do`)
    return {
      status: 'succeeded',
      changed: [],
      outputs: liveUrl ? { 'deployment-url': liveUrl } : undefined,
      details: { unchanged: true, liveDeployment: state.live?.id }
    }
  }
  const changed: string[] = []
  const recovery = state.diff.length > 0 ? recoveryFor(provider, action, state, caps) : []
  const outputs: StepResult['outputs'] & object = {}
  const details: Record<string, unknown> = {}
  // In the log before the change: if the process dies mid-step, the old values are still on record.
  for (const line of recovery) deps.log.info(`before changing: ${line}`)
  try {
    let mitigation: Mitigation | undefined
    if (action.instant) {
      mitigation = await instantly(provider, action, state, await listing, deps)
      details.mitigation = mitigation
      if (mitigation.servedId)
        changed.push(
          `instant rollback: production serves ${mitigation.servedId} again (from ${state.live?.id ?? '(none)'})`
        )
    }
    if (state.diff.length > 0) {
      const values = Object.fromEntries(state.diff.map(k => [k, action.set[k]!]))
      await provider.setEnv(values, action.targets)
      const where = `(${action.targets.join(', ')})`
      for (const key of state.diff)
        changed.push(transition(key, where, state.exact.get(key), action.set[key]!, caps))
    }
    if (action.redeploy) {
      let created: Deployment
      if (state.pending) {
        created = state.pending
        deps.log.info(`flags: deployment ${created.id} is already building these values; waiting`)
      } else {
        requireLive(state, provider, caps)
        const source = rebuildSource(state)!
        created = await provider.redeploy(source, {
          rollbackRunId: deps.run.request.runId,
          ...sealMeta(provider, action.set, action.targets)
        })
        changed.push(`redeploy ${created.id} started from ${source.id}`)
      }
      outputs['deployment-id'] = created.id
      deps.log.info(`flags: deployment ${created.id} (https://${created.url}) started`)
      const done = await provider.waitForDeployment(created.id, {
        timeoutMs: action.waitTimeoutMs,
        // After an instant rollback production builds are staged: promoting ours turns automatic
        // production assignment back on.
        promote: state.staged || mitigation?.requested !== undefined,
        onProgress: d => deps.log.info(`flags: deployment ${d.id} ${d.state}`)
      })
      outputs['deployment-url'] = `https://${done.url}`
      changed.push(`deployment ${done.id} is live at https://${done.url}`)
    }
    if (action.instant) details.durableAt = deps.clock.now()
    return { status: 'succeeded', changed, outputs, recovery, details }
  } catch (err) {
    return {
      status: 'failed',
      changed,
      outputs,
      recovery,
      details,
      error:
        err instanceof RollbackError
          ? { message: err.message, hint: err.hint }
          : { message: err instanceof Error ? err.message : String(err) }
    }
  }
}

/** `buildEstimateMs`: how long the live deployment took to build, when the provider says. */
function buildEstimate(live: Deployment | undefined): { buildEstimateMs?: number } {
  const started = live?.buildingAt ?? live?.createdAt
  if (live?.readyAt === undefined || started === undefined || live.readyAt < started) return {}
  return { buildEstimateMs: live.readyAt - started }
}

async function instantly(
  provider: HostingProvider,
  action: FlagsAction,
  state: Inspection,
  listing: Listing | Skipped | undefined,
  deps: FlagsDeps
): Promise<Mitigation> {
  if (!listing || isSkipped(listing)) {
    const skipped =
      listing?.skipped ?? `${provider.description} cannot serve an earlier deployment again`
    deps.log.warn(`flags: instant rollback skipped: ${skipped}; going straight to the durable fix`)
    return { skipped, failedChecks: [] }
  }
  const plan = { ...listing, rolledBack: state.rolledBack }
  const checks = action.instant!.checks
  return mitigate(provider, plan, { checks, timeoutMs: action.waitTimeoutMs }, deps)
}
