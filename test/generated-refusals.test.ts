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
import { queryRows, seededDatabase } from './support/postgres.js'
import { startVercelStandin, type VercelStandin } from './support/vercel-standin.js'

type Runbook = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

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

/** A runbook that plans cleanly: every refusal below comes from the one thing a case changed. */
function base(): Runbook {
  return {
    version: 1,
    name: 'generated',
    hosting: {
      provider: 'vercel',
      project: 'outline-app',
      'api-url': vercel.url,
      'token-env': 'VERCEL_TOKEN'
    },
    flags: {
      set: { NEXT_PUBLIC_USE_STREAMING: 'false' },
      targets: ['production'],
      redeploy: false
    },
    database: {
      'url-env': 'DATABASE_URL',
      steps: [
        {
          name: 'reset stuck sessions',
          'batch-update': {
            table: 'outline_sessions',
            key: 'id',
            set: { is_active: 'false' },
            where: "status = 'error'"
          }
        }
      ]
    },
    git: { remote: 'origin', branch: 'main', strategy: 'revert', 'revert-mode': 'single' }
  }
}

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

interface Case {
  label: string
  mutate(runbook: Runbook): void
  inputs?: Record<string, string>
  /** The fields the refusal must name, one line each. */
  fields: string[]
}

const batch = (r: Runbook) => r.database.steps[0]['batch-update']
const word = (min: number, max: number) => fc.stringMatching(new RegExp(`^[a-z]{${min},${max}}$`))

/** Expressions that only parse by escaping their field (each is more than one expression). */
const whereEscape = fc
  .tuple(
    fc.constantFrom("status = 'error'", 'is_active', 'true'),
    fc.constantFrom(') OR (true', '); DELETE FROM outline_sessions; --', ') OR 1=1 OR (')
  )
  .map(([expr, tail]): Case => ({
    label: `where ${expr}${tail}`,
    mutate: r => (batch(r).where = `${expr}${tail}`),
    fields: ['database.steps[0].batch-update.where']
  }))

const unknownColumn = word(3, 12).map((name): Case => ({
  label: `set zz_${name}`,
  mutate: r => (batch(r).set = { [`zz_${name}`]: 'false' }),
  fields: ['database.steps[0].batch-update.set']
}))

const smuggledAssignment = fc
  .constantFrom('error_message', 'status', 'updated_at')
  .map((column): Case => ({
    label: `set value writing ${column}`,
    mutate: r => (batch(r).set = { is_active: `false), ${column} = ('x'` }),
    fields: ['database.steps[0].batch-update.set.is_active']
  }))

const unknownKeys = fc
  .uniqueArray(word(3, 10), { minLength: 1, maxLength: 3 })
  .map((names): Case => ({
    label: `unknown keys ${names.join(',')}`,
    mutate: r => names.forEach(n => (r[`x_${n}`] = 1)),
    fields: names.map(n => `x_${n}`)
  }))

const missingCommit = fc.stringMatching(/^[0-9a-f]{40}$/).map((sha): Case => ({
  label: `revert ${sha}`,
  mutate: () => {},
  inputs: { revert: sha },
  fields: ['revert']
}))

const setByAnotherName = fc
  .constantFrom(
    "SELECT set_config('statement_timeout', '0', false)",
    'SET statement_timeout = 0',
    "select SET_CONFIG('lock_timeout', '0', true)"
  )
  .map((sql): Case => ({
    label: sql,
    mutate: r => (r.database.steps = [{ name: 'tune', sql }]),
    fields: ['database.steps[0].sql']
  }))

const nulInValue = fc
  .tuple(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }))
  .map(([a, b]): Case => ({
    label: 'NUL in a flag value',
    mutate: r => (r.flags.set.NEXT_PUBLIC_USE_STREAMING = `${a}\u0000${b}`),
    fields: ['flags.set.NEXT_PUBLIC_USE_STREAMING']
  }))

const unknownSeverity = word(3, 8)
  .filter(s => !['critical', 'high', 'medium', 'low'].includes(s))
  .map((severity): Case => ({
    label: `severity ${severity}`,
    mutate: () => {},
    inputs: { severity },
    fields: ['severity']
  }))

const cases = fc.oneof(
  whereEscape,
  unknownColumn,
  smuggledAssignment,
  unknownKeys,
  missingCommit,
  setByAnotherName,
  nulInValue,
  unknownSeverity
)

async function world() {
  const [row] = await queryRows<{ sum: string }>(
    dbUrl,
    "SELECT md5(string_agg(t::text, '|' ORDER BY id)) AS sum FROM outline_sessions t"
  )
  return { main: git(fx.remoteDir, 'rev-parse', 'main'), table: row!.sum }
}

const writes = () => vercel.requests.filter(r => r.method !== 'GET')

describe('generated refusals change nothing', () => {
  it('the unchanged runbook plans cleanly (so each refusal below is the case’s own)', async () => {
    const { outcome, gate } = await attempt(base(), { command: 'plan' })
    expect(
      refusal !== undefined && (outcome as { journal: { status: string } }).journal.status
    ).toBe('planned')
    expect(gate.state).toBe('closed')
  }, 60_000)

  it('every refused input names its field, never opens the gate, and changes nothing', async () => {
    const before = await world()
    await fc.assert(
      fc.asyncProperty(cases, async c => {
        const runbook = base()
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
