/**
 * A hosting provider whose writes ask the run's mutation gate first (src/util/mutation-gate.ts):
 * reads pass through, `setEnv`, `redeploy` and `promote` are refused until every preflight passed.
 * Wrapping here covers every provider in the registry without each one remembering to ask.
 */
import type { MutationGate } from '../util/mutation-gate.js'
import type { HostingProvider } from './types.js'

export function gatedProvider(provider: HostingProvider, gate: MutationGate): HostingProvider {
  const on = provider.description
  return {
    get description() {
      return provider.description
    },
    checkAccess: () => provider.checkAccess(),
    readEnv: keys => provider.readEnv(keys),
    setEnv: (values, targets) => {
      gate.assertOpen(`set ${Object.keys(values).join(', ')} on ${on}`)
      return provider.setEnv(values, targets)
    },
    currentProductionDeployment: () => provider.currentProductionDeployment(),
    pendingProductionDeployments: since => provider.pendingProductionDeployments(since),
    redeploy: (from, meta) => {
      gate.assertOpen(`redeploy ${on}`)
      return provider.redeploy(from, meta)
    },
    autoAssignsProduction: () => provider.autoAssignsProduction(),
    promote: id => {
      gate.assertOpen(`promote ${id} on ${on}`)
      return provider.promote(id)
    },
    waitForDeployment: (id, options) => provider.waitForDeployment(id, options),
    ...(provider.seal ? { seal: text => provider.seal!(text) } : {}),
    ...instantRollback(provider, gate)
  }
}

/** The optional instant rollback, gated like every write (absent when the provider has none). */
function instantRollback(
  provider: HostingProvider,
  gate: MutationGate
): Pick<HostingProvider, 'rollbackCandidate' | 'rollBackTo' | 'rolledBack'> {
  const { rollbackCandidate, rollBackTo, rolledBack } = provider
  if (!rollbackCandidate || !rollBackTo) return {}
  return {
    rollbackCandidate: cutoff => rollbackCandidate.call(provider, cutoff),
    ...(rolledBack ? { rolledBack: () => rolledBack.call(provider) } : {}),
    rollBackTo: (id, timeoutMs) => {
      gate.assertOpen(`roll ${provider.description} back to ${id}`)
      return rollBackTo.call(provider, id, timeoutMs)
    }
  }
}
