/**
 * Generated refusals through the real CLI (the built bundle, spawned as an operator runs it): the
 * refused runbooks and inputs of test/support/refusals.ts, and adversarial command lines and
 * runbook files, against a real bare git remote, the real PostgreSQL and the Vercel stand-in.
 * Each is refused: an invalid runbook or input exits 2 with one line per problem naming the field
 * and "nothing was changed"; a preflight that finds the run would fail exits 1 with the reason
 * first. Never a stack trace, never a credential echoed, and nothing changed: the remote's main,
 * the checkout, a checksum of the table and the stand-in's log (no request but GETs).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { stringify } from 'yaml'
import { createStreamingRemote, type StreamingRemote } from '../scripts/fixtures/git-remote.js'
import { BUNDLE_TIMEOUT_MS, builtBundle } from './support/bundle.js'
import { git } from './support/git.js'
import { seededDatabase } from './support/postgres.js'
import { base, refusalCases, tableChecksum, type Case, type Runbook } from './support/refusals.js'
import { startVercelStandin, type VercelStandin } from './support/vercel-standin.js'

let entry: string
let dir: string
let fx: StreamingRemote
let dbUrl: string
let vercel: VercelStandin

beforeAll(async () => {
  entry = join(await builtBundle(), 'cli', 'index.js')
  dir = mkdtempSync(join(tmpdir(), 'cli-refusals-'))
  fx = await createStreamingRemote(dir, { depth: 1 })
  dbUrl = await seededDatabase()
  vercel = await startVercelStandin({
    env: [{ key: 'NEXT_PUBLIC_USE_STREAMING', value: 'true' }]
  })
}, BUNDLE_TIMEOUT_MS)
afterAll(async () => {
  await vercel?.close()
  rmSync(dir, { recursive: true, force: true })
})

/** A case of the CLI: the runbook file's text and the command line, and how it must be refused. */
interface CliCase {
  label: string
  /** The runbook file (default: the base runbook changed by `mutate`). */
  file?: Buffer | string
  mutate?(runbook: Runbook): void
  /** Flags after the command, e.g. ['--severity', 'x']. */
  args: string[]
  /** The fields the refusal must name, each on a line of its own. */
  fields: string[]
  /** 2: invalid runbook or input; 1: a preflight found that the run would fail. */
  exit: 1 | 2
  /** Text that must not appear anywhere (a value given as a credential). */
  secret?: string
  /** The case gives a base flag a second time, on purpose. */
  repeats?: boolean
}

/**
 * Refusals only a phase's preflight can find (a column the table lacks, a commit the remote lacks):
 * the run fails, exit 1. Everything else, the runbook's SQL included, is invalid input: exit 2.
 */
const PREFLIGHT_FIELDS = /^(database\.steps\[\d+\]\.batch-update\.set|revert)$/

const fromShared = refusalCases.map((c: Case): CliCase => ({
  label: c.label,
  mutate: c.mutate,
  args: Object.entries(c.inputs ?? {}).flatMap(([k, v]) => [`--${k}`, v]),
  fields: c.fields,
  exit: c.fields.every(f => PREFLIGHT_FIELDS.test(f)) ? 1 : 2
}))

const word = fc.stringMatching(/^[a-z]{3,10}$/)

const unknownFlag = word.map((name): CliCase => ({
  label: `--zz-${name}`,
  args: [`--zz-${name}`, 'x'],
  fields: [`--zz-${name}`],
  exit: 2
}))

/** A credential passed as a flag: refused by name, its value never repeated. */
const secretFlag = fc
  .tuple(
    fc.constantFrom('AWS_SECRET_ACCESS_KEY', 'github-token', 'VERCEL_TOKEN', 'db-password'),
    fc.stringMatching(/^[A-Za-z0-9]{16,24}$/)
  )
  .map(([name, value]): CliCase => ({
    label: `--${name}=…`,
    args: [`--${name}=Zq${value}`],
    fields: [`--${name}`],
    exit: 2,
    secret: `Zq${value}`
  }))

const nothingSelected = fc.constantFrom(',,,', ' , ', ',').map((phases): CliCase => ({
  label: `--phases "${phases}"`,
  args: ['--phases', phases],
  fields: ['phases'],
  exit: 2
}))

/** Runbook files no parser should be trusted with: each is refused at file:line. */
const badFile = fc
  .constantFrom(
    'version: 1\nname: x\nhosting: {provider: vercel, project: "p\xe9"}\n',
    'version: 1\nname: *nowhere\n',
    `version: 1\nname: x\nflags: ${'['.repeat(80)}${']'.repeat(80)}\n`,
    [
      'a: &a [x, x, x, x, x, x, x, x, x, x]',
      ...'bcdefgh'.split('').map((n, i) => {
        const prev = 'abcdefgh'[i]!
        return `${n}: &${n} [*${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}]`
      }),
      'version: 1',
      'name: x'
    ].join('\n')
  )
  .map((text): CliCase => ({
    label: `runbook ${JSON.stringify(text.slice(0, 30))}`,
    // latin1: the é above is one byte 0xE9, not UTF-8.
    file: Buffer.from(text, 'latin1'),
    args: [],
    fields: ['rollback.yml:'],
    exit: 2
  }))

/** A flag given twice, or with an empty value: which value was meant is not known. */
const ambiguousFlag = fc
  .tuple(fc.constantFrom('--severity', '--phases', '--revert', '--report'), fc.boolean())
  .map(([flag, twice]): CliCase => ({
    label: twice ? `${flag} twice` : `${flag} ""`,
    args: [flag, twice ? 'critical' : ''],
    repeats: twice,
    fields: [flag],
    exit: 2
  }))

const cases = fc.oneof(fromShared, unknownFlag, secretFlag, nothingSelected, badFile, ambiguousFlag)

let n = 0

function cli(
  testCase: CliCase,
  command = 'run'
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const caseDir = mkdtempSync(join(dir, `case-${++n}-`))
  const runbookPath = join(caseDir, 'rollback.yml')
  if (testCase.file !== undefined) writeFileSync(runbookPath, testCase.file)
  else {
    const runbook = base(vercel.url)
    testCase.mutate?.(runbook)
    writeFileSync(runbookPath, stringify(runbook))
  }
  // A flag the case gives replaces the base one (given twice, the command line is refused as such).
  const given = new Set(testCase.args.map(a => a.split('=')[0]))
  const baseFlags: [string, string][] = [
    ['--runbook', runbookPath],
    ['--severity', 'critical'],
    ['--phases', 'flags,database,git'],
    ['--revert', fx.streamingRange],
    ['--workdir', fx.workdir],
    ['--report', join(caseDir, 'report.json')]
  ]
  const args = [
    entry,
    command,
    ...baseFlags.filter(([flag]) => testCase.repeats || !given.has(flag)).flat(),
    ...testCase.args
  ]
  const child = spawn(process.execPath, args, {
    cwd: caseDir,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      VERCEL_TOKEN: vercel.token,
      DATABASE_URL: dbUrl
    }
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.on('error', reject)
    child.on('close', code => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

async function world() {
  return {
    main: git(fx.remoteDir, 'rev-parse', 'main'),
    checkout: git(fx.workdir, 'rev-parse', 'HEAD'),
    status: git(fx.workdir, 'status', '--porcelain'),
    table: await tableChecksum(dbUrl)
  }
}

const writes = () => vercel.requests.filter(r => r.method !== 'GET')

describe('generated refusals through the CLI change nothing', () => {
  it('the unchanged runbook plans cleanly with the same command line (exit 0)', async () => {
    const { code, stderr } = await cli({ label: 'plan', args: [], fields: [], exit: 2 }, 'plan')
    expect([code, stderr]).toEqual([0, expect.any(String)])
  }, 60_000)

  it('every refused command line or runbook exits 1 or 2, names its field, no stack, no change', async () => {
    const before = await world()
    await fc.assert(
      fc.asyncProperty(cases, async c => {
        const { code, stdout, stderr } = await cli(c)
        const all = `${stdout}\n${stderr}`
        expect([c.label, code]).toEqual([c.label, c.exit])
        const lines = (c.exit === 2 ? stderr : all).split('\n')
        for (const field of c.fields) {
          expect([c.label, lines.some(l => l.includes(field))]).toEqual([c.label, true])
        }
        if (c.exit === 2) expect(stderr.split('\n')).toContain('nothing was changed')
        else expect(stdout.split('\n')[0]).toMatch(/fail/i)
        expect(all).not.toMatch(/\n\s+at \S.*:\d+:\d+\)?\n/)
        if (c.secret) expect(all).not.toContain(c.secret)
        expect(await world()).toEqual(before)
        expect(writes()).toEqual([])
      }),
      { numRuns: 14 }
    )
  }, 240_000)
})
