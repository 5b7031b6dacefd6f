/**
 * Start-to-plan time of the bundled action on the example runbook, next to bare `node -e ''`,
 * and the bundle size. Target: under 250 ms over bare node.
 *   npm run bench:startup [-- runs]   (31 by default)
 */
import { spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseDocument } from 'yaml'

const runs = Number(process.argv[2] ?? 31)
const dir = mkdtempSync(join(tmpdir(), 'bench-startup-'))
for (const f of ['output', 'summary.md', 'state', 'env']) writeFileSync(join(dir, f), '')
writeFileSync(join(dir, 'event.json'), '{}')

const actionEnv = {
  PATH: process.env.PATH,
  RUNNER_TEMP: dir,
  GITHUB_WORKSPACE: process.cwd(),
  GITHUB_OUTPUT: join(dir, 'output'),
  GITHUB_STEP_SUMMARY: join(dir, 'summary.md'),
  GITHUB_STATE: join(dir, 'state'),
  GITHUB_ENV: join(dir, 'env'),
  GITHUB_EVENT_PATH: join(dir, 'event.json'),
  INPUT_RUNBOOK: 'examples/streaming-migration/rollback.yml',
  INPUT_COMMAND: 'plan',
  INPUT_SEVERITY: 'critical'
}

/** One timed start; `ok` says whether it must succeed (the bundle-only case fails fast on purpose). */
function timed(args: string[], env: NodeJS.ProcessEnv, ok = true): number {
  const start = process.hrtime.bigint()
  const result = spawnSync(process.execPath, args, { env, encoding: 'utf8' })
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  if ((result.status === 0) !== ok) {
    throw new Error(`${args.join(' ')} exited ${result.status}:\n${result.stdout}${result.stderr}`)
  }
  return ms
}

const median = (times: number[]) => [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)]!

// The same plan in a workspace that is not a git checkout: what loading the bundle, validating
// and planning cost without the read-only git checks of the files/git preflight.
const emptyWorkspace = mkdtempSync(join(tmpdir(), 'bench-startup-ws-'))
cpSync('examples', join(emptyWorkspace, 'examples'), { recursive: true })
// The example runbook without its SQL (database, schema, integrity): what the PostgreSQL parser
// (WASM, loaded for the first statement) adds to a plan.
const noSqlRunbook = join(dir, 'no-sql.yml')
const withoutSql = parseDocument(readFileSync(actionEnv.INPUT_RUNBOOK, 'utf8'))
for (const key of ['database', 'schema', 'integrity']) withoutSql.delete(key)
writeFileSync(noSqlRunbook, withoutSql.toString())
const cases = {
  bare: () => timed(['-e', ''], { PATH: process.env.PATH }),
  plan: () => timed(['dist/index.js'], actionEnv),
  noGit: () => timed(['dist/index.js'], { ...actionEnv, GITHUB_WORKSPACE: emptyWorkspace }),
  noSql: () => timed(['dist/index.js'], { ...actionEnv, INPUT_RUNBOOK: noSqlRunbook }),
  // Loading the bundle, then failing at once on a runbook that does not exist.
  load: () =>
    timed(['dist/index.js'], { ...actionEnv, INPUT_RUNBOOK: 'no/such/runbook.yml' }, false)
}
// Interleaved, so a machine that gets busier or quieter during the run skews every figure alike.
const samples = Object.fromEntries(Object.keys(cases).map(k => [k, [] as number[]]))
for (let i = 0; i < runs; i++) {
  for (const [name, run] of Object.entries(cases)) samples[name]!.push(run())
}
const figure = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]))
const bare = figure.bare!
const kb = (file: string) => `${(statSync(file).size / 1024).toFixed(0)} kB`
const rows: [label: string, key: string, target: string][] = [
  ['plan, example runbook', 'plan', '< +250 ms'],
  ['plan, workspace without git', 'noGit', ''],
  ['plan, example runbook without its SQL sections', 'noSql', ''],
  ['load the bundle, fail at once: no runbook', 'load', '']
]

console.log(`runs per figure: ${runs}, interleaved (median)`)
console.log('| what | median | over bare node | target |')
console.log('| --- | --- | --- | --- |')
console.log(`| node -e '' | ${bare.toFixed(0)} ms | | |`)
for (const [label, key, target] of rows) {
  const ms = figure[key]!
  console.log(
    `| node dist/index.js (${label}) | ${ms.toFixed(0)} ms | +${(ms - bare).toFixed(0)} ms | ${target} |`
  )
}
console.log(
  `bundle: dist/index.js ${kb('dist/index.js')}, dist/cli/index.js ${kb('dist/cli/index.js')}`
)
for (const d of [dir, emptyWorkspace]) rmSync(d, { recursive: true, force: true })
