/**
 * The flag path's round trips: API requests before the first write and the time from process
 * start to that write, for the bundled CLI (`run --phases flags`) against the Vercel stand-in with
 * a per-request latency, next to bare `node -e ''`; with and without flags.instant. On Node 24
 * (what the action runs on). Build dist/ first (npm run build).
 *   npm run bench:flags [-- runs]   (5 by default; median and worst are printed)
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { node24Path } from '../scripts/node24.mjs'
import { startVercelStandin } from '../test/support/vercel-standin.js'

const LATENCY_MS = 80
const TOKEN = 'bench-token'
const runs = Number(process.argv[2] ?? 5)
const node = node24Path()
const dir = mkdtempSync(join(tmpdir(), 'bench-flags-'))

interface Sample {
  requests: number
  /** From spawning the CLI to the stand-in receiving its first write, ms. */
  firstWriteMs: number
}

function runbook(apiUrl: string, instant: boolean): string {
  const path = join(dir, `rollback-${instant ? 'instant' : 'plain'}.json`)
  const flags = {
    set: { NEXT_PUBLIC_USE_STREAMING: 'false' },
    'wait-timeout': '2m',
    ...(instant ? { instant: true } : {})
  }
  writeFileSync(
    path,
    JSON.stringify({
      version: 1,
      name: 'bench-flags',
      hosting: { provider: 'vercel', project: 'outline-app', 'api-url': apiUrl },
      flags
    })
  )
  return path
}

async function once(instant: boolean): Promise<Sample> {
  const standin = await startVercelStandin({
    token: TOKEN,
    latencyMs: LATENCY_MS,
    tickMs: 20,
    env: [{ key: 'NEXT_PUBLIC_USE_STREAMING', value: 'true' }],
    earlier: [{ ageMs: 3_600_000 }]
  })
  try {
    const file = runbook(standin.url, instant)
    const args = ['dist/cli/index.js', 'run', '--runbook', file, '--severity', 'critical']
    const started = performance.now()
    const child = spawn(node, [...args, '--phases', 'flags', '--report', join(dir, 'r.json')], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, VERCEL_TOKEN: TOKEN },
      stdio: ['ignore', 'ignore', 'pipe'],
      cwd: process.cwd()
    })
    let stderr = ''
    child.stderr.on('data', chunk => (stderr += String(chunk)))
    let firstWriteMs: number | undefined
    const watch = setInterval(() => {
      if (firstWriteMs === undefined && standin.requests.some(r => r.method !== 'GET'))
        firstWriteMs = performance.now() - started
    }, 1)
    const code = await new Promise<number | null>(resolve => child.on('exit', resolve))
    clearInterval(watch)
    if (code !== 0 || firstWriteMs === undefined)
      throw new Error(`the CLI exited ${code} without a write:\n${stderr}`)
    return { requests: standin.requestsBeforeFirstWrite().length, firstWriteMs }
  } finally {
    await standin.close()
  }
}

function bareNode(): number {
  const started = performance.now()
  spawnSync(node, ['-e', ''])
  return performance.now() - started
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const ms = (x: number) => `${Math.round(x)} ms`

const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim()
console.log(
  `flag path on Node ${version}, stand-in latency ${LATENCY_MS} ms per request, ${availableParallelism()} cores, ${runs} runs`
)
const bare = Array.from({ length: runs }, bareNode)
console.log(
  `bare node -e '':                 median ${ms(median(bare))}, worst ${ms(Math.max(...bare))}`
)
for (const instant of [false, true]) {
  const samples: Sample[] = []
  for (let i = 0; i < runs; i++) samples.push(await once(instant))
  const times = samples.map(s => s.firstWriteMs)
  const requests = Math.max(...samples.map(s => s.requests))
  const label = instant
    ? 'flags.instant (first write: rollback)'
    : 'flags (first write: env upsert)'
  console.log(
    `${label.padEnd(38)} ${requests} requests before the first write; start to first write median ${ms(median(times))}, worst ${ms(Math.max(...times))}`
  )
}
rmSync(dir, { recursive: true, force: true })
