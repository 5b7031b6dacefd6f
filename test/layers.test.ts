/**
 * The layering rule of the code (DESIGN.md): the lower layers (database, git, providers, HTTP,
 * utilities) take typed arguments and never import the engine, its model, the phases or the entry
 * points, so each can be used and tested on its own.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../src')
const LOWER = ['db', 'git', 'providers', 'http', 'util']
const ENGINE = [
  /^model\.ts$/,
  /^engine\.ts$/,
  /^plan\.ts$/,
  /^rollback\.ts$/,
  /^main\.ts$/,
  /^cli\.ts$/,
  /^index\.ts$/,
  /^phases\//,
  /^report\//,
  /^chatops\//
]

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap(entry => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sources(path)
    return entry.name.endsWith('.ts') ? [path] : []
  })
}

/** Relative imports of a file (static, dynamic and type-only), as paths under src/. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8')
  const specs = [...text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)]
  return specs.map(m => relative(SRC, resolve(dirname(file), m[1]!)).replace(/\.js$/, '.ts'))
}

describe('layers', () => {
  const files = LOWER.flatMap(layer => sources(join(SRC, layer)))

  it('finds the lower layers and their imports (the scan itself works)', () => {
    expect(files.length).toBeGreaterThan(20)
    const all = files.flatMap(importsOf)
    expect(all).toContain('util/errors.ts')
  })

  it.each(files.map(f => [relative(SRC, f)]))('%s imports nothing of the engine', file => {
    const bad = importsOf(join(SRC, file)).filter(target => ENGINE.some(re => re.test(target)))
    expect(bad).toEqual([])
  })

  it('would catch an import of the model', () => {
    const target = relative(SRC, resolve(join(SRC, 'git'), '../model.ts'))
    expect(ENGINE.some(re => re.test(target))).toBe(true)
  })
})
