/**
 * Fields of the runbook's JSON Schema that carry a marker keyword (`x-secret`, `x-duration`), and
 * the values a runbook holds at those fields. What is marked in the schema is what the code acts
 * on: no second list of field names to keep in step.
 */
import { runbookJsonSchema } from './validate.generated.js'

/** Stands for every item of an array or every value of a record in a field path. */
export const EACH = '*'

export interface MarkedField<T> {
  /** Keys from the root; EACH for array items and record values. */
  path: string[]
  mark: T
}

type SchemaNode = {
  properties?: Record<string, SchemaNode>
  items?: SchemaNode | SchemaNode[]
  additionalProperties?: SchemaNode | boolean
  anyOf?: SchemaNode[]
  oneOf?: SchemaNode[]
  allOf?: SchemaNode[]
  $ref?: string
  [keyword: string]: unknown
}

/** Deeper than any runbook field; stops a self-referencing schema. */
const MAX_SCHEMA_DEPTH = 32

function resolveRef(root: SchemaNode, ref: string): SchemaNode | undefined {
  if (!ref.startsWith('#/')) return undefined
  let node: unknown = root
  for (const segment of ref.slice(2).split('/')) {
    node = (node as Record<string, unknown> | undefined)?.[
      segment.replace(/~1/g, '/').replace(/~0/g, '~')
    ]
  }
  return node as SchemaNode | undefined
}

function children(node: SchemaNode): [string | undefined, SchemaNode][] {
  const out: [string | undefined, SchemaNode][] = []
  for (const [key, child] of Object.entries(node.properties ?? {})) out.push([key, child])
  const items = Array.isArray(node.items) ? node.items : node.items ? [node.items] : []
  for (const child of items) out.push([EACH, child])
  if (typeof node.additionalProperties === 'object') out.push([EACH, node.additionalProperties])
  // Alternatives (a union such as hosting on provider) describe the same place.
  for (const child of [...(node.anyOf ?? []), ...(node.oneOf ?? []), ...(node.allOf ?? [])]) {
    out.push([undefined, child])
  }
  return out
}

/** Every field whose schema has `keyword`, with the keyword's value. */
export function markedFields<T>(
  keyword: string,
  schema: SchemaNode = runbookJsonSchema as unknown as SchemaNode
): MarkedField<T>[] {
  const found = new Map<string, MarkedField<T>>()
  const visit = (node: SchemaNode, path: string[], depth: number) => {
    if (depth > MAX_SCHEMA_DEPTH) return
    const target = node.$ref ? resolveRef(schema, node.$ref) : node
    if (!target) return
    if (target[keyword] !== undefined) {
      found.set(JSON.stringify(path), { path, mark: target[keyword] as T })
    }
    for (const [key, child] of children(target)) {
      visit(child, key === undefined ? path : [...path, key], depth + 1)
    }
  }
  visit(schema, [], 0)
  return [...found.values()]
}

export interface FieldValue {
  path: (string | number)[]
  value: unknown
}

/** The values `data` holds at a field path (several when the path passes through EACH). */
export function valuesAt(data: unknown, path: readonly string[]): FieldValue[] {
  let current: FieldValue[] = [{ path: [], value: data }]
  for (const key of path) {
    const next: FieldValue[] = []
    for (const { path: at, value } of current) {
      if (typeof value !== 'object' || value === null) continue
      if (key !== EACH) {
        if (!Array.isArray(value) && Object.hasOwn(value, key)) {
          next.push({ path: [...at, key], value: (value as Record<string, unknown>)[key] })
        }
      } else if (Array.isArray(value)) {
        value.forEach((item, i) => next.push({ path: [...at, i], value: item as unknown }))
      } else {
        for (const [k, item] of Object.entries(value)) next.push({ path: [...at, k], value: item })
      }
    }
    current = next
  }
  return current
}
