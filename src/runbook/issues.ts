/**
 * Turns the generated validator's errors (ajv's shape) into one-line problems that say what is
 * expected and how to fix it. What a pattern means comes from the schema's `x-expected`.
 */
import { runbookJsonSchema } from './validate.generated.js'
import { closest } from '../util/closest.js'

export interface SchemaError {
  instancePath: string
  schemaPath: string
  keyword: string
  params: Record<string, unknown>
  message?: string
  /** Set when the error is about an object key (propertyNames), not its value. */
  propertyName?: string
}

export interface SchemaProblem {
  path: (string | number)[]
  /** The offending key itself (unknown or invalid keys): positions point at the key. */
  key?: string
  message: string
}

type SchemaNode = {
  type?: string | string[]
  const?: unknown
  properties?: Record<string, SchemaNode>
  oneOf?: SchemaNode[]
  'x-expected'?: string
}

/** The schema node that holds the failing keyword (`#/properties/a/pattern` -> node of `a`). */
function nodeAt(schemaPath: string): SchemaNode | undefined {
  const segments = schemaPath.replace(/^#\/?/, '').split('/').slice(0, -1)
  let node: unknown = runbookJsonSchema
  for (const raw of segments) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    node =
      typeof node === 'object' && node !== null
        ? (node as Record<string, unknown>)[segment]
        : undefined
  }
  return node as SchemaNode | undefined
}

/** The instance path as keys and indexes, read against the data (so "0" in an array is 0). */
export function dataPath(instancePath: string, data: unknown): (string | number)[] {
  const path: (string | number)[] = []
  let current = data
  for (const raw of instancePath.split('/').slice(1)) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    const key = Array.isArray(current) ? Number(segment) : segment
    path.push(key)
    current = (current as Record<string | number, unknown> | undefined)?.[key]
  }
  return path
}

function valueAt(data: unknown, path: (string | number)[]): unknown {
  return path.reduce<unknown>(
    (v, k) => (v as Record<string | number, unknown> | undefined)?.[k],
    data
  )
}

function kind(value: unknown): string {
  if (value === null) return 'null'
  return Array.isArray(value) ? 'array' : typeof value
}

function typeName(type: unknown): string {
  const names = String(type ?? 'a value')
    .split(',')
    .map(t => (t === 'integer' ? 'number' : t))
  return names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names.at(-1)}` : names[0]!
}

function typeMessage(expected: string, value: unknown): string {
  if (expected === 'integer' && typeof value === 'number') return 'expected a whole number'
  const got = kind(value)
  const quoteHint =
    expected === 'string' && (got === 'boolean' || got === 'number')
      ? ` (quote the value, e.g. "${String(value)}")`
      : ''
  return `expected ${typeName(expected)}, got ${got}${quoteHint}`
}

function unknownKeyMessage(key: string, node: SchemaNode | undefined): string {
  const allowed = Object.keys(node?.properties ?? {})
  const close = closest(key, allowed)
  if (close) return `unknown key "${key}": did you mean "${close}"?`
  return `unknown key "${key}"` + (allowed.length ? `: allowed keys are ${allowed.join(', ')}` : '')
}

function describe(error: SchemaError, value: unknown): string {
  const p = error.params
  switch (error.keyword) {
    case 'type':
      return typeMessage(String(p.type), value)
    case 'const':
      return `expected ${JSON.stringify(p.allowedValue)}`
    case 'enum': {
      const values = p.allowedValues as unknown[]
      return `expected one of ${values.map(v => JSON.stringify(v)).join(', ')}`
    }
    case 'pattern':
      return `expected ${nodeAt(error.schemaPath)?.['x-expected'] ?? `text matching ${String(p.pattern)}`}`
    case 'minLength':
      return `must not be empty (at least ${String(p.limit)} character(s))`
    case 'minItems':
      return `must not be empty (at least ${String(p.limit)} item(s))`
    case 'minimum':
      return `must be at least ${String(p.limit)}`
    case 'maximum':
      return `must be at most ${String(p.limit)}`
    default:
      return error.message ?? error.keyword
  }
}

/** A union told apart by a tag (`hosting.provider`): the tag is missing or names no branch. */
function discriminatorProblem(error: SchemaError, path: (string | number)[], data: unknown) {
  const tag = String(error.params.tag)
  const allowed = (nodeAt(error.schemaPath)?.oneOf ?? []).map(b =>
    String(b.properties?.[tag]?.const)
  )
  const value = valueAt(data, [...path, tag])
  const list = `one of ${allowed.map(v => JSON.stringify(v)).join(', ')}`
  const close = typeof value === 'string' ? closest(value, allowed) : undefined
  const message =
    value === undefined
      ? `required: expected ${list}`
      : `expected ${list}${close ? `: did you mean "${close}"?` : ''}`
  return { path: [...path, tag], message }
}

/** One problem per failing place; `const`/`enum` say more than `type` about the same value. */
export function schemaProblems(errors: readonly SchemaError[], data: unknown): SchemaProblem[] {
  const byPlace = new Map<string, SchemaProblem & { rank: number }>()
  for (const error of errors) {
    if (error.keyword === 'propertyNames') continue // its inner error names the key
    const path = dataPath(error.instancePath, data)
    let problem: SchemaProblem
    if (error.keyword === 'additionalProperties') {
      const key = String(error.params.additionalProperty)
      problem = {
        path: [...path, key],
        key,
        message: unknownKeyMessage(key, nodeAt(error.schemaPath))
      }
    } else if (error.keyword === 'required') {
      const missing = String(error.params.missingProperty)
      const property = nodeAt(error.schemaPath)?.properties?.[missing]
      const message =
        property?.const !== undefined
          ? `expected ${JSON.stringify(property.const)}`
          : `required: expected ${typeName(property?.type ?? 'object')}`
      problem = { path: [...path, missing], message }
    } else if (error.keyword === 'discriminator') {
      problem = discriminatorProblem(error, path, data)
    } else if (error.propertyName !== undefined) {
      const key = error.propertyName
      problem = { path: [...path, key], key, message: `invalid key: ${describe(error, key)}` }
    } else {
      problem = { path, message: describe(error, valueAt(data, path)) }
    }
    const place = `${JSON.stringify(problem.path)}|${problem.key ?? ''}`
    const rank = error.keyword === 'const' || error.keyword === 'enum' ? 0 : 1
    const seen = byPlace.get(place)
    if (!seen || rank < seen.rank) byPlace.set(place, { ...problem, rank })
  }
  return [...byPlace.values()].map(({ rank: _rank, ...problem }) => problem)
}
