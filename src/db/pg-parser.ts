/**
 * The PostgreSQL parser (libpg-query's WASM build), loaded so it also works from the ncc bundle.
 *
 * libpg-query's own index.js starts the WASM module at import time and finds the .wasm file
 * through `__dirname`, which does not exist in an ESM bundle (the import would fail with
 * "__dirname is not defined" and the .wasm would not be copied). So we call the emscripten
 * factory ourselves with `instantiateWasm` and the module compiled from the bytes of the .wasm
 * (see pg-wasm.ts for how the bundle gets them).
 * The parse call below mirrors libpg-query's `parse` (same struct layout, v18).
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setFlagsFromString } from 'node:v8'
import { libpgQueryWasm } from './pg-wasm.js'

interface WasmModule {
  lengthBytesUTF8(s: string): number
  stringToUTF8(s: string, ptr: number, len: number): void
  UTF8ToString(ptr: number): string
  getValue(ptr: number, type: string): number
  _malloc(n: number): number
  _free(ptr: number): void
  _wasm_parse_query_raw(ptr: number): number
  _wasm_free_parse_result(ptr: number): void
}

// The ES2023 lib has no WebAssembly types (they come with DOM); only these calls are needed.
type CompiledParser = object
const wasm = (
  globalThis as unknown as {
    WebAssembly: {
      compile(bytes: Uint8Array): Promise<CompiledParser>
      instantiate(module: CompiledParser, imports: unknown): Promise<unknown>
    }
  }
).WebAssembly

type Factory = (arg: Record<string, unknown>) => Promise<WasmModule>

export class SqlParseError extends Error {
  constructor(
    message: string,
    readonly cursorPosition: number
  ) {
    super(message)
    this.name = 'SqlParseError'
  }
}

function wasmBytes(): Uint8Array {
  try {
    return libpgQueryWasm()
  } catch {
    // Not found relative to the sources (e.g. hoisted node_modules): ask Node's resolver.
  }
  try {
    return readFileSync(createRequire(import.meta.url).resolve('libpg-query/wasm/libpg-query.wasm'))
  } catch (err) {
    throw new Error(`libpg-query.wasm not found: ${err instanceof Error ? err.message : err}`)
  }
}

// Set at run time V8 does not apply a flag's implications: on Node 24 `--liftoff-only` alone
// still tiers the parser up (about 2 s of CPU and a late exit); the two tier-up flags stop it.
const BASELINE_WASM_ONLY = ['--liftoff-only', '--no-wasm-tier-up', '--no-wasm-dynamic-tiering']

let compiled: Promise<CompiledParser> | undefined
let loading: Promise<WasmModule> | undefined

/** The parser's module, compiled once (with the baseline compiler only, see below). */
function compiledParser(): Promise<CompiledParser> {
  if (!compiled) {
    // Without this, V8 recompiles the whole 1.7 MB parser with its optimising compiler right after
    // instantiation and the process stalls for ~0.3 s (seen on the next git spawn). A run parses a
    // handful of statements: the baseline compiler is plenty.
    for (const flag of BASELINE_WASM_ONLY) setFlagsFromString(flag)
    compiled = wasm.compile(wasmBytes())
  }
  return compiled
}

async function load(): Promise<WasmModule> {
  const module = await compiledParser()
  // The emscripten glue reads __dirname in Node even when given the module; ESM bundles lack it.
  const g = globalThis as { __dirname?: string }
  if (typeof g.__dirname !== 'string') g.__dirname = dirname(fileURLToPath(import.meta.url))
  const imported = (await import('libpg-query/wasm/libpg-query.js')) as {
    default: Factory | { default: Factory }
  }
  const factory: Factory =
    typeof imported.default === 'function' ? imported.default : imported.default.default
  // The glue waits for `done`; a failed instantiation must reject the load, not leave it pending.
  let failed: (err: unknown) => void = () => {}
  const instantiationFailed = new Promise<never>((_, reject) => (failed = reject))
  return Promise.race([
    factory({
      instantiateWasm(imports: unknown, done: (instance: unknown) => void): Record<string, never> {
        wasm.instantiate(module, imports).then(done).catch(failed)
        return {}
      }
    }),
    instantiationFailed
  ])
}

/** Parses SQL into libpg-query's JSON AST ({ version, stmts: [{ stmt, stmt_location, stmt_len }] }). */
export async function parseSql(sql: string): Promise<unknown> {
  loading ??= load()
  const m = await loading
  const len = m.lengthBytesUTF8(sql) + 1
  const queryPtr = m._malloc(len)
  let resultPtr = 0
  try {
    m.stringToUTF8(sql, queryPtr, len)
    resultPtr = m._wasm_parse_query_raw(queryPtr)
    if (!resultPtr) throw new Error('parser: memory allocation failed')
    const treePtr = m.getValue(resultPtr, 'i32')
    const errorPtr = m.getValue(resultPtr + 8, 'i32')
    if (errorPtr) {
      const messagePtr = m.getValue(errorPtr, 'i32')
      const cursor = m.getValue(errorPtr + 16, 'i32')
      const message = messagePtr ? m.UTF8ToString(messagePtr) : 'syntax error'
      throw new SqlParseError(message, cursor > 0 ? cursor - 1 : 0)
    }
    if (!treePtr) throw new Error('parser: no parse tree')
    return JSON.parse(m.UTF8ToString(treePtr)) as unknown
  } finally {
    m._free(queryPtr)
    if (resultPtr) m._wasm_free_parse_result(resultPtr)
  }
}
