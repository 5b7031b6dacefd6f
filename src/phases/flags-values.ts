/**
 * Which variable values the flags phase may show (plans, logs, the report) and which it hides and
 * hands to the redactor: by the provider's capabilities, never by its name.
 */
import type { ProviderCapabilities } from '../providers/module.js'
import type { HostedEnv } from '../providers/types.js'
import type { Redactor } from '../util/redact.js'

/** A variable whose name the platform compiles into the client bundle: only a rebuild changes it. */
export function isBuildTime(key: string, caps: ProviderCapabilities): boolean {
  return caps.buildTimePrefixes.some(prefix => key.startsWith(prefix))
}

/** Flag words: no secret in them, and masking them would blank ordinary words in every output. */
const FLAG_WORD = /^(true|false|on|off|yes|no|0|1)$/i

/** A value that may be shown whatever its stored type: client-visible by name, or a flag word. */
export function plainly(key: string, value: string, caps: ProviderCapabilities): boolean {
  return isBuildTime(key, caps) || FLAG_WORD.test(value)
}

/**
 * Whether `key`'s value may appear in plans, logs and reports: plainly (above), or stored as a
 * type that is not secret (`entry` undefined: the variable the run creates, caps.createdType).
 * Every other value is hidden, and registered with the redactor by the flags phase.
 */
export function valueShown(
  key: string,
  value: string,
  entry: HostedEnv | undefined,
  caps: ProviderCapabilities
): boolean {
  return plainly(key, value, caps) || caps.openTypes.includes(entry?.type ?? caps.createdType)
}

export const HIDDEN = '(value hidden)'

export function showValue(
  key: string,
  value: string,
  entry: HostedEnv | undefined,
  caps: ProviderCapabilities
): string {
  return valueShown(key, value, entry, caps) ? value : HIDDEN
}

/**
 * Every value read or about to be written that may not be shown (valueShown) goes to the redactor
 * before anything is logged: whatever echoes it (a platform's error message) is masked too.
 */
export function redactSecrets(
  action: { set: Record<string, string> },
  entries: HostedEnv[],
  caps: ProviderCapabilities,
  redactor: Redactor
): void {
  for (const e of entries)
    if (e.value !== undefined && !valueShown(e.key, e.value, e, caps)) redactor.add(e.value)
  for (const [key, value] of Object.entries(action.set)) {
    const stored = entries.filter(e => e.key === key)
    const hidden = stored.length
      ? stored.some(e => !valueShown(key, value, e, caps))
      : !valueShown(key, value, undefined, caps)
    if (hidden) redactor.add(value)
  }
}

export function describeOld(
  key: string,
  env: HostedEnv | undefined,
  caps: ProviderCapabilities
): string {
  if (!env) return '(not set)'
  if (env.value === undefined) return `(${env.type}, value not readable)`
  return showValue(key, env.value, env, caps)
}

/** `KEY (targets): old -> new`, values shown only where safe (valueShown). */
export function transition(
  key: string,
  where: string,
  old: HostedEnv | undefined,
  value: string,
  caps: ProviderCapabilities
): string {
  const before = describeOld(key, old, caps)
  const after = showValue(key, value, old, caps)
  if (after === HIDDEN && before === HIDDEN) return `${key} ${where}: changed ${HIDDEN}`
  return `${key} ${where}: ${before} -> ${after}`
}
