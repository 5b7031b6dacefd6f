/** Turns zod issues into one-line messages that say what is expected and how to fix it. */
import { z } from 'zod'
import { runbookSchema } from './schema.js'

export function describeIssue(issue: z.core.$ZodIssue, unknownKey?: string): string {
  switch (issue.code) {
    case 'unrecognized_keys': {
      const allowed = allowedKeysAt(issue.path)
      const close = unknownKey ? closest(unknownKey, allowed) : undefined
      if (close) return `: did you mean "${close}"?`
      return allowed.length ? `: allowed keys are ${allowed.join(', ')}` : ''
    }
    case 'invalid_type': {
      const got = /received (\w+)/.exec(issue.message)?.[1]
      if (got === 'undefined') return `required: expected ${issue.expected}`
      const quoteHint =
        issue.expected === 'string' && (got === 'boolean' || got === 'number')
          ? ' (quote the value, e.g. "false")'
          : ''
      return `expected ${issue.expected}, got ${got ?? 'something else'}${quoteHint}`
    }
    case 'invalid_value':
      if (issue.values.length === 1) return `expected ${JSON.stringify(issue.values[0])}`
      return `expected one of ${issue.values.map(v => JSON.stringify(v)).join(', ')}`
    case 'too_small':
      return issue.origin === 'array' || issue.origin === 'string'
        ? `must not be empty (at least ${String(issue.minimum)} ${issue.origin === 'array' ? 'item' : 'character'}(s))`
        : `must be at least ${String(issue.minimum)}`
    case 'too_big':
      return `must be at most ${String(issue.maximum)}`
    case 'invalid_format':
      return `expected ${issue.message.startsWith('Invalid') ? issue.format : issue.message}`
    case 'invalid_key':
      return `invalid key: ${issue.issues.map(i => describeIssue(i)).join('; ')}`
    case 'invalid_union':
      return 'does not match any allowed form'
    default:
      return issue.message.startsWith('Invalid') ? issue.message : `expected ${issue.message}`
  }
}

/** The keys the schema allows for the object at `path` (for "did you mean"). */
export function allowedKeysAt(path: readonly PropertyKey[]): string[] {
  let schema: z.core.$ZodType | undefined = runbookSchema
  for (const key of path) {
    schema = schema && child(unwrap(schema), key)
  }
  const target = schema && unwrap(schema)
  return target instanceof z.ZodObject ? Object.keys(target.shape) : []
}

function unwrap(schema: z.core.$ZodType): z.core.$ZodType {
  let current = schema
  while (
    current instanceof z.ZodOptional ||
    current instanceof z.ZodDefault ||
    current instanceof z.ZodNullable
  ) {
    current = current.unwrap() as z.core.$ZodType
  }
  return current
}

function child(schema: z.core.$ZodType, key: PropertyKey): z.core.$ZodType | undefined {
  if (schema instanceof z.ZodObject)
    return (schema.shape as Record<string, z.core.$ZodType>)[String(key)]
  if (schema instanceof z.ZodArray) return schema.element as z.core.$ZodType
  if (schema instanceof z.ZodRecord) return schema.valueType as z.core.$ZodType
  return undefined
}

function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase())
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return best
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const next = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = row[j]!
      row[j] = next
    }
  }
  return row[b.length]!
}
