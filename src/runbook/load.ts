/**
 * Loads a runbook: YAML (with positions) -> validation (schema, rules, secret scan). Every problem is
 * reported as `file:line:col: key.path: what is expected`, all at once, before anything runs.
 */
import { readFile } from 'node:fs/promises'
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml'
import type { Runbook } from './schema.js'
import { validateRunbook, type SchemaProblem } from './validate.js'

export interface RunbookProblem {
  file: string
  line: number
  col: number
  /** Dotted key path, e.g. `database.steps[1].batch-update.table`. */
  path: string
  message: string
}

export function formatProblem(p: RunbookProblem): string {
  return `${p.file}:${p.line}:${p.col}: ${p.path || '(top level)'}: ${p.message}`
}

export class RunbookError extends Error {
  constructor(readonly problems: RunbookProblem[]) {
    super(problems.map(formatProblem).join('\n'))
    this.name = 'RunbookError'
  }
}

export async function loadRunbook(file: string): Promise<Runbook> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : String(err)
    throw new RunbookError([
      {
        file,
        line: 1,
        col: 1,
        path: '',
        message: `${reason}: set the runbook input/--runbook to your runbook (default .github/rollback.yml)`
      }
    ])
  }
  return parseRunbook(text, file)
}

export function parseRunbook(text: string, file: string): Runbook {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true })
  if (doc.errors.length > 0) {
    throw new RunbookError(
      doc.errors.map(err => {
        const pos = lineCounter.linePos(err.pos[0])
        const at = pathAt(doc.contents, err.pos[0])
        const key = at.at(-1)
        const message =
          err.code === 'DUPLICATE_KEY' && typeof key === 'string'
            ? `duplicate key "${key}": write each key once per mapping`
            : `invalid YAML: ${err.message.split('\n')[0]}`
        return { file, ...pos, path: dotted(at), message }
      })
    )
  }
  const position = (path: PropertyKey[], key?: string) => {
    const offset = nodeOffset(doc, path, key)
    return lineCounter.linePos(offset)
  }
  const data: unknown = doc.toJS()
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new RunbookError([
      {
        file,
        line: 1,
        col: 1,
        path: '',
        message: 'a runbook is a YAML mapping (version: 1, name: ...)'
      }
    ])
  }
  const result = validateRunbook(data)
  const problems: RunbookProblem[] = result.problems.map((p: SchemaProblem) => ({
    file,
    ...(p.key !== undefined ? position(p.path.slice(0, -1), p.key) : position(p.path)),
    path: dotted(p.path),
    message: p.message
  }))
  if (problems.length > 0 || !('runbook' in result)) {
    problems.sort((a, b) => a.line - b.line || a.col - b.col)
    throw new RunbookError(problems)
  }
  return result.runbook
}

/** Key path of the innermost key or value at `offset` (YAML errors carry only an offset). */
function pathAt(node: unknown, offset: number, path: PropertyKey[] = []): PropertyKey[] {
  const within = (n: unknown) => {
    const range = (n as Node | null | undefined)?.range
    return range != null && range[0] <= offset && offset < range[2]
  }
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '?'
      if (within(pair.key)) return [...path, key]
      if (within(pair.value)) return pathAt(pair.value, offset, [...path, key])
    }
  } else if (isSeq(node)) {
    const index = node.items.findIndex(within)
    if (index >= 0) return pathAt(node.items[index], offset, [...path, index])
  }
  return path
}

/** Offset of the deepest node that exists along `path` (the key itself for unknown keys). */
function nodeOffset(doc: Document, path: PropertyKey[], key?: string): number {
  const keys = path.map(p => (typeof p === 'number' ? p : String(p)))
  for (let depth = keys.length; depth >= 0; depth--) {
    const node = doc.getIn(keys.slice(0, depth), true) as Node | undefined
    if (!node) continue
    if (depth === keys.length && key !== undefined && isMap(node)) {
      const pair = node.items.find(item => isScalar(item.key) && item.key.value === key)
      const keyNode = pair?.key as Node | undefined
      if (keyNode?.range) return keyNode.range[0]
    }
    if (depth < keys.length && isMap(node)) {
      // The value is missing or wrong: point at its key when the key exists.
      const pair = node.items.find(item => isScalar(item.key) && item.key.value === keys[depth])
      const keyNode = pair?.key as Node | undefined
      if (keyNode?.range) return keyNode.range[0]
    }
    if (node.range) return node.range[0]
  }
  return 0
}

export function dotted(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`))
    .join('')
}
