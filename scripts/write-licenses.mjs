// Writes dist/licenses.txt (DIR/licenses.txt with `node scripts/write-licenses.mjs DIR`) from every
// production dependency's package.json and LICENSE file.
// (ncc's own --license output misses the ESM packages, e.g. @actions/exec and yaml.)
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const paths = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], {
  encoding: 'utf8'
})
  .split('\n')
  .filter(p => p.includes('node_modules'))
const seen = new Map()
for (const dir of paths) {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
  const key = `${pkg.name}@${pkg.version}`
  if (seen.has(key)) continue
  const file = readdirSync(dir).find(f => /^(license|licence|copying)(\.|$)/i.test(f))
  const text =
    file && existsSync(join(dir, file)) ? readFileSync(join(dir, file), 'utf8').trim() : ''
  seen.set(key, `${pkg.name}\n${pkg.license ?? 'UNKNOWN'}\n${text}`)
}
const sorted = [...seen.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, v]) => v)
const file = join(process.argv[2] ?? 'dist', 'licenses.txt')
writeFileSync(file, sorted.join('\n\n') + '\n')
console.log(`${file}: ${sorted.length} packages`)
