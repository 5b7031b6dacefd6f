/**
 * Loads a runbook: file checks -> YAML (with positions) -> validation (schema, rules, secret scan).
 * Every problem is reported as `file:line:col: key.path: what is expected`, all at once (the first
 * few printed), before anything runs. Any input is handled in bounded time and memory: the file
 * size is capped, anything but a regular UTF-8 file is refused, nesting and aliases are limited,
 * and positions are looked up through an index (linear in the number of problems).
 */
import { constants } from 'node:fs'
import { open } from 'node:fs/promises'
import {
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type Document,
  type Node
} from 'yaml'
import { hideCredentials } from '../util/credentials.js'
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

/** A runbook is a few kilobytes; this is far above any real one and far below harm. */
export const MAX_RUNBOOK_BYTES = 1024 * 1024
/** Deeper than any runbook needs; parsing deeper input would exhaust the stack. */
export const MAX_NESTING = 64
/** Aliases a runbook may use; more is how an alias bomb looks. */
export const MAX_ALIASES = 100
/** Problems printed; the rest are counted ("and N more"). */
export const MAX_PRINTED_PROBLEMS = 20
/** Longest key or path echoed in a message. */
const MAX_ECHO = 80

export function formatProblem(p: RunbookProblem): string {
  return `${p.file}:${p.line}:${p.col}: ${p.path || '(top level)'}: ${p.message}`
}

/** A key path or a message, credentials hidden and bounded (a message keeps room for its fix). */
function shown(text: string, max = MAX_ECHO * 2): string {
  const hidden = hideCredentials(text)
  return hidden.length > max ? `${hidden.slice(0, max)}…` : hidden
}

export class RunbookError extends Error {
  /** The problems printed (a credential-looking key or value is never repeated). */
  readonly problems: RunbookProblem[]
  /** How many problems there were in all. */
  readonly total: number

  /** `unlisted`: more problems, counted but not described. */
  constructor(problems: RunbookProblem[], unlisted = 0) {
    const printed = problems
      .slice(0, MAX_PRINTED_PROBLEMS)
      .map(p => ({ ...p, path: shown(p.path), message: shown(p.message, MAX_ECHO * 5) }))
    const more = problems.length - printed.length + unlisted
    super(
      [...printed.map(formatProblem), ...(more > 0 ? [`and ${more} more problem(s)`] : [])].join(
        '\n'
      )
    )
    this.name = 'RunbookError'
    this.problems = printed
    this.total = problems.length + unlisted
  }
}

function fileProblem(file: string, message: string): RunbookError {
  return new RunbookError([{ file, line: 1, col: 1, path: '', message }])
}

export async function loadRunbook(file: string): Promise<Runbook> {
  return (await loadLocatedRunbook(file)).runbook
}

/** A loaded runbook and a way to turn later findings about its fields into file:line problems. */
export interface LocatedRunbook {
  runbook: Runbook
  /** A RunbookError at each field's place: `field` is dotted (database.steps[0].sql). */
  invalid(problems: { field: string; message: string }[]): RunbookError
}

export async function loadLocatedRunbook(file: string): Promise<LocatedRunbook> {
  const text = await readRunbookText(file)
  const runbook = parseRunbook(text, file)
  return {
    runbook,
    invalid(problems) {
      // Only for a runbook already found valid: parsed again, at most once, when a check fails.
      const lineCounter = new LineCounter()
      const index = new KeyIndex(parseDocument(text, { lineCounter, uniqueKeys: false }))
      return new RunbookError(
        problems.map(p => ({
          file,
          ...lineCounter.linePos(index.offset(undotted(p.field))),
          path: p.field,
          message: p.message
        }))
      )
    }
  }
}

/** `database.steps[0].sql` -> ['database', 'steps', 0, 'sql']: the inverse of dotted(). */
export function undotted(field: string): PropertyKey[] {
  return [...field.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map(m =>
    m[2] !== undefined ? Number(m[2]) : m[1]!
  )
}

/**
 * The file's text. Opened without blocking (a FIFO would wait for a writer forever), then
 * refused unless it is a regular file of bounded size holding valid UTF-8.
 */
async function readRunbookText(file: string): Promise<string> {
  let handle
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const reason =
      code === 'ENOENT' ? 'file not found' : `cannot open the file (${code ?? 'error'})`
    throw fileProblem(
      file,
      `${reason}: set the runbook input/--runbook to your runbook (default .github/rollback.yml)`
    )
  }
  try {
    const stat = await handle.stat()
    if (!stat.isFile()) {
      throw fileProblem(
        file,
        'not a regular file: point the runbook input/--runbook at a YAML file'
      )
    }
    if (stat.size > MAX_RUNBOOK_BYTES) {
      throw fileProblem(
        file,
        `the file is larger than ${MAX_RUNBOOK_BYTES / 1024} KiB: a runbook is a short YAML file; check the path`
      )
    }
    // Read at most one byte past the cap: the file may have grown since stat.
    const buffer = Buffer.alloc(MAX_RUNBOOK_BYTES + 1)
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0)
    if (bytesRead > MAX_RUNBOOK_BYTES) {
      throw fileProblem(file, `the file is larger than ${MAX_RUNBOOK_BYTES / 1024} KiB`)
    }
    return decodeUtf8(buffer.subarray(0, bytesRead), file)
  } finally {
    await handle.close()
  }
}

function decodeUtf8(bytes: Uint8Array, file: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    const text = new TextDecoder('utf-8').decode(bytes)
    const at = text.indexOf('\uFFFD')
    const before = text.slice(0, Math.max(at, 0))
    const line = before.split('\n').length
    const col = before.length - before.lastIndexOf('\n')
    throw new RunbookError([
      { file, line, col, path: '', message: 'not valid UTF-8 text: save the runbook as UTF-8' }
    ])
  }
}

export function parseRunbook(text: string, file: string): Runbook {
  const lineCounter = new LineCounter()
  const nul = text.indexOf('\0')
  if (nul >= 0) {
    throw new RunbookError([
      {
        file,
        ...positionOf(text, nul),
        path: '',
        message: 'contains a NUL character: remove it (a runbook is plain text)'
      }
    ])
  }
  // Duplicate keys are found below in one pass: the library's own check is quadratic.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false })
  const structure = structureProblems(doc.contents)
  if ('tooDeep' in structure) {
    throw new RunbookError([
      {
        file,
        ...lineCounter.linePos(structure.tooDeep.range?.[0] ?? 0),
        path: '',
        message: `nested deeper than ${MAX_NESTING} levels: a runbook is a shallow YAML mapping`
      }
    ])
  }
  const syntax = doc.errors.map(err => {
    const at = pathAt(doc.contents, err.pos[0])
    return {
      file,
      ...lineCounter.linePos(err.pos[0]),
      path: dotted(at),
      message: yamlMessage(err)
    }
  })
  const duplicates = structure.duplicates.map(({ key, path }) => ({
    file,
    ...lineCounter.linePos(key.range?.[0] ?? 0),
    path: dotted(path),
    message: `duplicate key "${String(path.at(-1))}": write each key once per mapping`
  }))
  const complexKeys = structure.complexKeys.map(({ key, path }) => ({
    file,
    ...lineCounter.linePos(key.range?.[0] ?? 0),
    path: dotted(path),
    message:
      'a key that is a list, mapping or alias: runbook keys are plain names; write the key as text'
  }))
  const structural = [...syntax, ...duplicates, ...complexKeys]
  if (structural.length > 0) {
    throw new RunbookError(structural.sort((a, b) => a.line - b.line || a.col - b.col))
  }
  const data = toData(doc, lineCounter, file)
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw fileProblem(file, 'a runbook is a YAML mapping (version: 1, name: ...)')
  }
  const result = validateRunbook(data)
  const index = new KeyIndex(doc)
  const problems: RunbookProblem[] = result.problems.map((p: SchemaProblem) => ({
    file,
    ...lineCounter.linePos(
      p.key !== undefined ? index.offset(p.path.slice(0, -1), p.key) : index.offset(p.path)
    ),
    path: dotted(p.path),
    message: p.message
  }))
  if (!('runbook' in result)) {
    problems.sort((a, b) => a.line - b.line || a.col - b.col)
    throw new RunbookError(problems, result.unlisted)
  }
  return result.runbook
}

/** The library's syntax error in our words where its own names a call to make. */
function yamlMessage(err: { code: string; message: string }): string {
  if (err.code === 'MULTIPLE_DOCS') {
    return 'invalid YAML: a second document starts here (---); a runbook is one YAML document: remove the --- line and what follows, or keep it in a file of its own'
  }
  return `invalid YAML: ${err.message.split('\n')[0]}`
}

function positionOf(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, offset)
  return { line: before.split('\n').length, col: offset - before.lastIndexOf('\n') }
}

/** The YAML as plain data; unresolved aliases and alias bombs are problems at the alias. */
function toData(doc: Document, lineCounter: LineCounter, file: string): unknown {
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIASES })
  } catch (err) {
    const alias = firstAlias(doc.contents)
    const unresolved = /unresolved alias/i.test((err as Error).message)
    throw new RunbookError([
      {
        file,
        ...lineCounter.linePos(alias?.range?.[0] ?? 0),
        path: '',
        message: unresolved
          ? 'an alias (*name) refers to no anchor (&name) defined before it: define the anchor first'
          : `the YAML aliases expand too far (more than ${MAX_ALIASES} copies): write the values out`
      }
    ])
  }
}

type KeyAt = { key: Node; path: PropertyKey[] }
type Structure = { tooDeep: Node } | { duplicates: KeyAt[]; complexKeys: KeyAt[] }

/**
 * The first node nested deeper than MAX_NESTING, or else every repeated key of a mapping and
 * every key that is a list or mapping (`? [a, b]`: no runbook key is). Iterative, so deep input
 * cannot overflow the stack.
 */
function structureProblems(root: unknown): Structure {
  const duplicates: KeyAt[] = []
  const complexKeys: KeyAt[] = []
  const stack: [unknown, PropertyKey[]][] = [[root, []]]
  while (stack.length > 0) {
    const [node, path] = stack.pop()!
    if (path.length > MAX_NESTING) return { tooDeep: node as Node }
    if (isMap(node)) {
      const seen = new Set<string>()
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : '?'
        if (isScalar(pair.key) && seen.has(key))
          duplicates.push({ key: pair.key, path: [...path, key] })
        if (pair.key && !isScalar(pair.key)) complexKeys.push({ key: pair.key as Node, path })
        seen.add(key)
        stack.push([pair.key, [...path, key]], [pair.value, [...path, key]])
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => stack.push([item, [...path, i]]))
    }
  }
  return { duplicates, complexKeys }
}

/** The first alias (unresolved or bomb: the place to look). Nesting is bounded by now. */
function firstAlias(node: unknown): Node | undefined {
  if (isAlias(node)) return node
  if (isMap(node)) {
    for (const pair of node.items) {
      const found = firstAlias(pair.key) ?? firstAlias(pair.value)
      if (found) return found
    }
  } else if (isSeq(node)) {
    for (const item of node.items) {
      const found = firstAlias(item)
      if (found) return found
    }
  }
  return undefined
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

/**
 * Offsets of keys and values by path. Each mapping is indexed once, on first use, so looking up
 * every problem of a runbook with many bad keys stays linear.
 */
class KeyIndex {
  private readonly maps = new Map<Node, Map<string, { key: Node; value: unknown }>>()

  constructor(private readonly doc: Document) {}

  private pairs(map: Node): Map<string, { key: Node; value: unknown }> {
    let pairs = this.maps.get(map)
    if (!pairs) {
      pairs = new Map()
      if (isMap(map)) {
        for (const item of map.items) {
          if (isScalar(item.key) && !pairs.has(String(item.key.value))) {
            pairs.set(String(item.key.value), { key: item.key, value: item.value })
          }
        }
      }
      this.maps.set(map, pairs)
    }
    return pairs
  }

  private resolve(node: unknown): unknown {
    return isAlias(node) ? node.resolve(this.doc) : node
  }

  /**
   * Offset of the deepest node that exists along `path`: the key itself for unknown keys, the
   * key of a missing or wrong value when that key exists.
   */
  offset(path: readonly PropertyKey[], key?: string): number {
    // `raw` is what stands at the place (an alias points at itself); `node` is what it means.
    let raw = this.doc.contents as Node | null | undefined
    let node = this.resolve(raw) as Node | null | undefined
    for (const step of path) {
      const here = raw?.range?.[0] ?? 0
      if (isMap(node)) {
        const pair = this.pairs(node).get(String(step))
        if (!pair) return here
        raw = pair.value as Node | null | undefined
        // The value is missing: point at its key.
        if (!raw) return pair.key.range?.[0] ?? here
      } else if (isSeq(node) && typeof step === 'number') {
        raw = node.items[step] as Node | null | undefined
        if (!raw) return here
      } else {
        return here
      }
      node = this.resolve(raw) as Node | null | undefined
    }
    if (key !== undefined && isMap(node)) {
      const keyNode = this.pairs(node).get(key)?.key
      if (keyNode?.range) return keyNode.range[0]
    }
    return raw?.range?.[0] ?? 0
  }
}

export function dotted(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`))
    .join('')
}
