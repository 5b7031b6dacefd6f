/**
 * Generated refusals: random and adversarial runbooks and inputs, each run with `run` through
 * `rollback()` against a real bare git remote, the real PostgreSQL and the Vercel stand-in. Every
 * one is refused (an input/runbook error, or a failed preflight) naming the field, the mutation
 * gate is never opened and nothing asks it, and nothing changed: the remote's main, a checksum of
 * the table and the stand-in's log (no request but GETs).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { stringify } from 'yaml'
import { createStreamingRemote, type StreamingRemote } from '../scripts/fixtures/git-remote.js'
import { rollback } from '../src/rollback.js'
import { MutationGate } from '../src/util/mutation-gate.js'
import { recordingLogger } from './support/context.js'
import { git } from './support/git.js'
import { seededDatabase } from './support/postgres.js'
import { base, refusalCases, tableChecksum, type Runbook } from './support/refusals.js'
import { startVercelStandin, type VercelStandin } from './support/vercel-standin.js'

let dir: string
let fx: StreamingRemote
let dbUrl: string
let vercel: VercelStandin

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'refusals-'))
  fx = await createStreamingRemote(dir, { depth: 1 })
  dbUrl = await seededDatabase()
  vercel = await startVercelStandin({
    env: [{ key: 'NEXT_PUBLIC_USE_STREAMING', value: 'true' }]
  })
})
afterAll(async () => {
  await vercel?.close()
  rmSync(dir, { recursive: true, force: true })
})

async function attempt(runbook: Runbook, inputs: Record<string, string> = {}) {
  const path = join(dir, `runbook-${Date.now()}-${Math.random()}.yml`)
  writeFileSync(path, stringify(runbook))
  const gate = new MutationGate()
  const outcome = await rollback({
    runbookPath: path,
    inputs: {
      command: 'run',
      severity: 'critical',
      phases: 'flags,database,git',
      revert: fx.streamingRange,
      ...inputs
    },
    trigger: { kind: 'cli' },
    runId: 'generated',
    workdir: fx.workdir,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      VERCEL_TOKEN: vercel.token,
      DATABASE_URL: dbUrl
    },
    secrets: {},
    reportPath: join(dir, 'report.json'),
    log: recordingLogger(),
    sleep: async () => {},
    gate
  }).catch((e: unknown) => e)
  return { outcome, gate }
}

/** What a refusal said: the error's lines, or the failed preflight's message. */
function refusal(outcome: unknown): string {
  if (outcome instanceof Error) return outcome.message
  const { journal } = outcome as Awaited<ReturnType<typeof rollback>>
  expect(journal.status).toBe('failed')
  expect(journal.steps.every(s => s.status === 'skipped')).toBe(true)
  return journal.error?.message ?? ''
}

async function world() {
  return { main: git(fx.remoteDir, 'rev-parse', 'main'), table: await tableChecksum(dbUrl) }
}

const writes = () => vercel.requests.filter(r => r.method !== 'GET')

describe('generated refusals change nothing', () => {
  it('the unchanged runbook plans cleanly (so each refusal below is the case’s own)', async () => {
    const { outcome, gate } = await attempt(base(vercel.url), { command: 'plan' })
    expect(
      refusal !== undefined && (outcome as { journal: { status: string } }).journal.status
    ).toBe('planned')
    expect(gate.state).toBe('closed')
  }, 60_000)

  it('every refused input names its field, never opens the gate, and changes nothing', async () => {
    const before = await world()
    await fc.assert(
      fc.asyncProperty(refusalCases, async c => {
        const runbook = base(vercel.url)
        c.mutate(runbook)
        const { outcome, gate } = await attempt(runbook, c.inputs)
        const message = refusal(outcome)
        const lines = message.split(/\n|; /)
        for (const field of c.fields) {
          expect(lines.filter(l => l.includes(field)).length).toBeGreaterThanOrEqual(1)
        }
        expect(gate.state).not.toBe('open')
        expect(gate.refusedTotal).toBe(0)
        expect(await world()).toEqual(before)
        expect(writes()).toEqual([])
      }),
      { numRuns: 8 }
    )
  }, 120_000)
})
