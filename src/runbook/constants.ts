/** Runbook names the engine needs at run time (kept apart from the zod schema, a build-time tool). */

export const PHASES = [
  'flags',
  'verify',
  'database',
  'git',
  'schema',
  'integrity',
  'files',
  'monitor',
  'notify'
] as const
export type PhaseName = (typeof PHASES)[number]

export const SEVERITIES = ['critical', 'high', 'medium', 'low'] as const
export type Severity = (typeof SEVERITIES)[number]

/** The seed's decision matrix; a runbook's `severity` section overrides it per severity. */
export const DEFAULT_SEVERITY_MATRIX = {
  critical: { phases: [...PHASES], mutate: true, description: 'Immediate rollback (< 5 min)' },
  high: {
    phases: [...PHASES],
    mutate: true,
    environment: 'production-rollback',
    description: 'Scheduled rollback behind required reviewers (< 30 min)'
  },
  medium: {
    phases: ['verify', 'integrity', 'monitor', 'notify'],
    mutate: false,
    description: 'Investigate first: plan, integrity checks, health; no mutations (< 2 h)'
  },
  low: { phases: ['monitor', 'notify'], mutate: false, description: 'Continue monitoring' }
} as const satisfies Record<
  Severity,
  { phases: readonly PhaseName[]; mutate: boolean; environment?: string; description: string }
>

/** A branch name this tool accepts (a safe subset of git's rules: no "..", no leading "-"). */
export const BRANCH_NAME = /^(?!-)(?!.*\.\.)[A-Za-z0-9._/-]*[A-Za-z0-9._-]$/
