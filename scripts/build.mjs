// npm run build: bundles the action (src/index.ts -> dist/index.js) and the CLI
// (src/cli.ts -> dist/cli/index.js) with ncc, then writes dist/licenses.txt.
// `node scripts/build.mjs --out DIR --bundles-only` builds the same bundles into DIR and skips
// licenses.txt (the tests of the bundles build their own from the current sources:
// test/support/bundle.ts).
//
// The bundles are CommonJS (dist/package.json says so) although the sources are ESM: Node's ESM
// loader alone adds ~30 ms to every start, and decoding a module's source costs more on that path.
// ncc's API is used for this because its CLI only picks the format from the entry's package.json.
//
// The bundle must be the same on every machine (CI rebuilds it and compares). So each TypeScript file
// is transpiled on its own (transpileOnly), as an ES module (src/tsconfig.json: module ESNext): with
// NodeNext a type-checking build decides each file's format from package.json lookups, and CI once
// produced a different bundle than every local build. Type checking is `npm run typecheck`'s job.
import { execFileSync } from 'node:child_process'
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import ncc from '@vercel/ncc'

const { values } = parseArgs({
  options: { out: { type: 'string' }, 'bundles-only': { type: 'boolean' } }
})
const root = values.out ?? 'dist'
const BUNDLES = [
  { entry: 'src/index.ts', out: root },
  { entry: 'src/cli.ts', out: join(root, 'cli') }
]

rmSync(root, { recursive: true, force: true })
for (const { entry, out } of BUNDLES) {
  const { code, map, assets } = await ncc(join(process.cwd(), entry), {
    esm: false,
    filename: 'index.js',
    sourceMap: true,
    sourceMapRegister: false,
    quiet: true,
    transpileOnly: true
  })
  const write = (name, source, mode) => {
    const file = join(out, name)
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, source)
    if (mode) chmodSync(file, mode)
  }
  // The CLI starts with a shebang: keep it executable, as ncc's command line does.
  write('index.js', code, code.startsWith('#!') ? 0o755 : undefined)
  write('index.js.map', map)
  for (const [name, asset] of Object.entries(assets)) write(name, asset.source, asset.permissions)
  write('package.json', '{ "type": "commonjs" }\n')
  console.log(`${entry} -> ${out}/index.js (${(code.length / 1024).toFixed(0)} kB)`)
}
if (!values['bundles-only']) {
  execFileSync('node', ['scripts/write-licenses.mjs', root], { stdio: 'inherit' })
}
