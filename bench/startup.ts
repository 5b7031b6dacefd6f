/**
 * Start-to-plan time of the bundled action on the example runbook, next to bare `node -e ''`,
 * and the bundle size. Target: under 250 ms over bare node.
 *   npm run bench:startup [-- runs]
 */
import { spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const runs = Number(process.argv[2] ?? 15)
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
const cases = {
  bare: () => timed(['-e', ''], { PATH: process.env.PATH }),
  plan: () => timed(['dist/index.js'], actionEnv),
  noGit: () => timed(['dist/index.js'], { ...actionEnv, GITHUB_WORKSPACE: emptyWorkspace }),
  // Loading the bundle, then failing at once on a runbook that does not exist.
  load: () =>
    timed(['dist/index.js'], { ...actionEnv, INPUT_RUNBOOK: 'no/such/runbook.yml' }, false)
}
// Interleaved, so a machine that gets busier or quieter during the run skews every figure alike.
const samples = Object.fromEntries(Object.keys(cases).map(k => [k, [] as number[]]))
for (let i = 0; i < runs; i++) {
  for (const [name, run] of Object.entries(cases)) samples[name]!.push(run())
}
const [bare, action, noGit, load] = ['bare', 'plan', 'noGit', 'load'].map(k =>
  median(samples[k]!)
) as [number, number, number, number]
const kb = (file: string) => `${(statSync(file).size / 1024).toFixed(0)} kB`

console.log(`runs per figure: ${runs}, interleaved (median)`)
console.log('| what | median | over bare node | target |')
console.log('| --- | --- | --- | --- |')
console.log(`| node -e '' | ${bare.toFixed(0)} ms | | |`)
console.log(
  `| node dist/index.js (plan, example runbook) | ${action.toFixed(0)} ms | +${(action - bare).toFixed(0)} ms | < +250 ms |`
)
console.log(
  `| node dist/index.js (plan, workspace without git) | ${noGit.toFixed(0)} ms | +${(noGit - bare).toFixed(0)} ms | |`
)
console.log(
  `| node dist/index.js (load the bundle, fail at once: no runbook) | ${load.toFixed(0)} ms | +${(load - bare).toFixed(0)} ms | |`
)
console.log(
  `bundle: dist/index.js ${kb('dist/index.js')}, dist/cli/index.js ${kb('dist/cli/index.js')}`
)
