/**
 * Every duration within the bounds its field declares in the schema (`x-duration`): a zero
 * interval would poll without pause, an enormous timeout would never end.
 */
import { parseDuration } from '../util/duration.js'
import type { SchemaProblem } from './issues.js'
import { markedFields, valuesAt } from './schema-fields.js'

interface Bounds {
  min: string
  max: string
}

const DURATION = /^\d+(ms|s|m|h)$/

let boundedFields: ReturnType<typeof markedFields<Bounds>> | undefined

export function durationProblems(data: unknown): SchemaProblem[] {
  boundedFields ??= markedFields<Bounds>('x-duration')
  const problems: SchemaProblem[] = []
  for (const field of boundedFields) {
    for (const { path, value } of valuesAt(data, field.path)) {
      // A malformed duration is the pattern's problem, reported by the schema check.
      if (typeof value !== 'string' || !DURATION.test(value)) continue
      const ms = parseDuration(value)
      const { min, max } = field.mark
      if (ms < parseDuration(min) || ms > parseDuration(max)) {
        problems.push({ path, message: `expected a duration from ${min} to ${max}` })
      }
    }
  }
  return problems
}
