/** Every hosting provider, one line each: the runbook's `hosting.provider` names one of them. */
import { githubVariablesModule } from './github-variables-module.js'
import type { ProviderCapabilities } from './module.js'
import { netlifyModule } from './netlify-module.js'
import { vercelModule } from './vercel-module.js'

export const PROVIDERS = [vercelModule, netlifyModule, githubVariablesModule] as const

export type ProviderName = (typeof PROVIDERS)[number]['name']

export function providerModule(name: string) {
  return PROVIDERS.find(p => p.name === name)
}

/** No hosting section: nothing is known about the platform. */
const UNKNOWN: ProviderCapabilities = {
  label: 'the hosting platform',
  dashboard: 'the hosting dashboard',
  envTargets: 'target-sets',
  buildTimePrefixes: [],
  openTypes: [],
  createdType: ''
}

export function capabilitiesOf(name: string | undefined): ProviderCapabilities {
  return (name !== undefined && providerModule(name)?.capabilities) || UNKNOWN
}
