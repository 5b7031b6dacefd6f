/**
 * Benchmark: revert a 20-commit range in a repository of 20,000+ commits, from a depth-1 checkout
 * (what actions/checkout gives; the git phase deepens only as far as needed) versus a full clone.
 *
 *   npx tsx bench/git.ts [commits=20000] [range=20]
 *
 * Prints time and bytes for the clone and for the rollback (preflight + revert + push) side by side.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { execGit, GitCommandManager } from '../src/git/git-command-manager.js'
import type { FetchStats } from '../src/git/history.js'
import { buildDependencies } from '../src/dependencies.js'
import type { GitRunner } from '../src/git/git-command-manager.js'
import type { Logger } from '../src/model.js'
import { gitPhase } from '../src/phases/git.js'
import { runbookFrom } from '../src/runbook/validate.js'

const COMMITS = Number(process.argv[2] ?? 20000)
const RANGE = Number(process.argv[3] ?? 20)
const FILES = 500

const env = { ...process.env, GIT_AUTHOR_NAME: 'Bench', GIT_AUTHOR_EMAIL: 'bench@example.com' }
const sh = (cwd: string, args: string[], input?: string) =>
  execFileSync('git', args, { cwd, env, input, encoding: 'utf8', maxBuffer: 1 << 30 }).trim()

/** A fast-import stream: each commit rewrites one of FILES files, cycling. */
function history(commits: number): string {
  const parts: string[] = []
  const data = (text: string) => `data ${Buffer.byteLength(text)}\n${text}\n`
  for (let i = 1; i <= commits; i++) {
    // Nested directories keep each commit's new trees small (fast-import writes them all).
    const file = `src/d${i % 25}/module-${i % FILES}.ts`
    parts.push(
      `commit refs/heads/main\nmark :${i}\ncommitter Bench <bench@example.com> ${1_700_000_000 + i * 60} +0000\n`,
      data(`Change ${i}: update ${file}`),
      i > 1 ? `from :${i - 1}\n` : '',
      `M 100644 inline ${file}\n`,
      data(`// ${file}\nexport const revision = ${i}\nexport const note = '${'x'.repeat(40)}'\n`)
    )
  }
  return parts.join('')
}

const quiet: Logger = { info() {}, warn() {}, error() {}, debug() {} }

function context(workdir: string, revert: string, runId: string, gitRunner: GitRunner) {
  const runbook = runbookFrom({ version: 1, name: 'bench', git: { revert } })
  const request = { command: 'run', severity: 'critical', trigger: { kind: 'cli' }, runId } as const
  const deps = buildDependencies({
    mode: 'run',
    request,
    runbook,
    workdir,
    env: process.env,
    secrets: {},
    log: quiet,
    gitRunner
  })
  return { ...deps, runbook, request }
}

interface Row {
  cloneMs: number
  cloneBytes: number
  rollbackMs: number
  fetchedBytes: number
  localCommits: number
  gitCommands: number
  slowest: string[]
}

async function scenario(root: string, url: string, revert: string, depth?: number): Promise<Row> {
  const dir = join(root, depth ? 'shallow' : 'full')
  let t = performance.now()
  sh(root, ['clone', '--quiet', ...(depth ? [`--depth=${depth}`] : []), url, dir])
  const cloneMs = performance.now() - t
  const manager = new GitCommandManager(dir, quiet, env as Record<string, string>)
  const cloneBytes = await manager.objectBytes()
  const timings: [number, string][] = []
  const ctx = context(dir, revert, `bench-${depth ? 'shallow' : 'full'}`, async (args, options) => {
    const start = performance.now()
    const out = await execGit(args, options)
    timings.push([performance.now() - start, args.slice(0, 3).join(' ')])
    return out
  })
  t = performance.now()
  const steps = gitPhase.plan(ctx.runbook, ctx.request)
  const found = await gitPhase.preflight!(steps, ctx)
  const result = await gitPhase.run(steps[0]!, ctx, found.checked?.get(steps[0]!.id))
  const rollbackMs = performance.now() - t
  if (result.status !== 'succeeded') throw new Error(JSON.stringify(result.error))
  const fetch = result.details!.fetch as FetchStats
  return {
    cloneMs,
    cloneBytes,
    rollbackMs,
    fetchedBytes: fetch.bytesFetched,
    localCommits: Number(sh(dir, ['rev-list', '--count', 'HEAD'])),
    gitCommands: timings.length,
    slowest: timings
      .sort((a, b) => b[0] - a[0])
      .slice(0, 4)
      .map(([time, command]) => `${ms(time)} git ${command}`)
  }
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`
const ms = (n: number) => `${n.toFixed(0)} ms`

async function main() {
  const root = mkdtempSync(join(tmpdir(), 'bench-git-'))
  try {
    const bare = join(root, 'remote.git')
    let t = performance.now()
    sh(root, ['init', '--quiet', '--bare', '--initial-branch=main', bare])
    sh(bare, ['fast-import', '--quiet', '--depth=1'], history(COMMITS))
    sh(bare, ['repack', '-adfq'])
    const tip = sh(bare, ['rev-parse', 'main'])
    const from = sh(bare, ['rev-parse', `main~${RANGE}`])
    console.log(
      `built ${COMMITS} commits in ${ms(performance.now() - t)}; reverting ${from.slice(0, 7)}..${tip.slice(0, 7)} (${RANGE} commits)\n`
    )
    const url = pathToFileURL(bare).href
    const revert = `${from}..${tip}`
    t = performance.now()
    const shallow = await scenario(root, url, revert, 1)
    sh(bare, ['update-ref', 'refs/heads/main', tip])
    const full = await scenario(root, url, revert)
    const rows: [string, (r: Row) => string][] = [
      ['clone time', r => ms(r.cloneMs)],
      ['clone size', r => kib(r.cloneBytes)],
      ['rollback time (preflight+revert+push)', r => ms(r.rollbackMs)],
      ['fetched by the rollback (deepen)', r => kib(r.fetchedBytes)],
      ['total time', r => ms(r.cloneMs + r.rollbackMs)],
      ['total bytes', r => kib(r.cloneBytes + r.fetchedBytes)],
      ['commits in the checkout', r => String(r.localCommits)],
      ['git commands run by the rollback', r => String(r.gitCommands)]
    ]
    const width = Math.max(...rows.map(([label]) => label.length))
    console.log(`${''.padEnd(width)} | depth 1 + deepen | full clone`)
    console.log(`${'-'.repeat(width)}-|------------------|-----------`)
    for (const [label, cell] of rows) {
      console.log(
        `${label.padEnd(width)} | ${cell(shallow).padStart(16)} | ${cell(full).padStart(10)}`
      )
    }
    for (const [name, row] of [
      ['depth 1', shallow],
      ['full clone', full]
    ] as const) {
      console.log(`\nslowest git commands (${name}):\n  ${row.slowest.join('\n  ')}`)
    }
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}

await main()
