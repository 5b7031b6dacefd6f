/**
 * Parses a ChatOps comment: `/rollback <plan|run|drill> [severity] [key=value ...]`.
 * The body is attacker-controlled text: only the keys below are accepted (never the runbook
 * path or tokens), values must be plain tokens, and anything else is refused with the reason.
 */
import { REQUEST_INPUTS, type RawInputs } from '../request.js'
import { SEVERITIES } from '../runbook/constants.js'

/** A comment may set exactly the request inputs: never the runbook path or a token. */
export const CHATOPS_KEYS = REQUEST_INPUTS

export type ChatOpsParse =
  | { kind: 'not-a-command' }
  | { kind: 'invalid'; reason: string }
  | { kind: 'command'; inputs: RawInputs }

const VALUE = /^[A-Za-z0-9._/,:-]+$/

export function parseChatOpsComment(body: string, trigger = '/rollback'): ChatOpsParse {
  const firstLine = body.trimStart().split(/\r?\n/, 1)[0]!.trim()
  if (firstLine !== trigger && !firstLine.startsWith(`${trigger} `))
    return { kind: 'not-a-command' }
  const words = firstLine.slice(trigger.length).trim().split(/\s+/).filter(Boolean)
  const [command = 'plan', ...rest] = words
  if (!['plan', 'run', 'drill'].includes(command)) {
    return {
      kind: 'invalid',
      reason: `unknown command "${command}": use ${trigger} plan|run|drill [severity] [key=value ...]`
    }
  }
  const inputs: RawInputs = { command }
  for (const word of rest) {
    if ((SEVERITIES as readonly string[]).includes(word) && inputs.severity === undefined) {
      inputs.severity = word
      continue
    }
    const eq = word.indexOf('=')
    const key = eq > 0 ? word.slice(0, eq) : word
    const value = eq > 0 ? word.slice(eq + 1) : ''
    if (!(CHATOPS_KEYS as readonly string[]).includes(key)) {
      return {
        kind: 'invalid',
        reason: `"${key}" is not accepted in a comment; allowed: ${CHATOPS_KEYS.join(', ')}`
      }
    }
    if (!VALUE.test(value)) {
      return {
        kind: 'invalid',
        reason: `${key}: give a plain value (${key}=...) without spaces or quotes`
      }
    }
    if (inputs[key as keyof RawInputs] !== undefined) {
      return { kind: 'invalid', reason: `${key} is given twice` }
    }
    inputs[key as keyof RawInputs] = value
  }
  return { kind: 'command', inputs }
}
