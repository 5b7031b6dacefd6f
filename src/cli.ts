#!/usr/bin/env node
/**
 * CLI entry point: the same engine for the day GitHub Actions is down.
 *   emergency-rollback <plan|run|drill> [--runbook F] [--severity S] [...]
 * Flags mirror the action inputs; secrets come from environment variables only.
 */
import { parseArgs } from 'node:util'
import { resolve } from 'node:path'
import { INPUTS, type InputName } from './interface.js'
import type { GitHubTarget, Logger } from './model.js'
import { InputError, REQUEST_INPUTS, type RawInputs } from './request.js'
import { releaseLock, rollback } from './rollback.js'
import { RollbackError } from './util/errors.js'
import { abortOnSignals } from './util/signals.js'
import { RunbookError } from './runbook/load.js'
import { untilFinished } from './util/exit-guard.js'
import { credentialKind, hideCredentials, looksLikeCredentialName } from './util/credentials.js'
import { Redactor } from './util/redact.js'
import { closest } from './util/closest.js'

const PLAIN_INPUTS = (Object.keys(INPUTS) as InputName[]).filter(
  name =>
    !('secret' in INPUTS[name]) &&
    !('actionOnly' in INPUTS[name]) &&
    name !== 'command' &&
    name !== 'release-lock'
)

const SECRET_INPUTS = (Object.keys(INPUTS) as InputName[]).filter(name => 'secret' in INPUTS[name])

/** A flag named like a credential or a secret input is refused; its value is never repeated. */
function secretFlagProblem(argv: string[]): string | undefined {
  for (const arg of argv) {
    if (arg === '--') return undefined
    const name = /^--?([^=]+)/.exec(arg)?.[1]
    if (name === undefined) continue
    const secretName =
      (SECRET_INPUTS as string[]).includes(name) ||
      looksLikeCredentialName(name) ||
      credentialKind(name) !== undefined
    if (secretName) {
      return `${hideCredentials(`--${name}`)}: secrets are read from environment variables only, never from flags (see --help)`
    }
  }
  return undefined
}

function usage(): string {
  const flags = PLAIN_INPUTS.map(name => {
    const spec = INPUTS[name]
    const fallback = 'default' in spec && spec.default ? ` (default ${spec.default})` : ''
    return `  --${name.padEnd(13)} ${spec.description}${fallback}`
  })
  const secrets = (Object.keys(INPUTS) as InputName[]).flatMap(name => {
    const spec: { secretEnv?: string; description: string } = INPUTS[name]
    return spec.secretEnv ? [`  ${spec.secretEnv.padEnd(15)} ${spec.description}`] : []
  })
  return [
    'Usage: emergency-rollback <plan|run|drill> [options]',
    '       emergency-rollback --release-lock [--runbook F] [--workdir D]',
    '',
    'Commands:',
    '  plan   show what would change; change nothing',
    '  run    carry out the rollback',
    '  drill  prove the rollback works without changing production',
    '',
    'Options:',
    ...flags,
    '  --workdir       git checkout to work in (default: current directory)',
    '  --report        where to write the JSON report (default: ./rollback-report-<run-id>.json)',
    '  --json          print the JSON report instead of the text summary',
    '  --markdown      print the markdown summary instead of the text summary',
    `  --release-lock  ${INPUTS['release-lock'].description.replace(/^true: r/, 'R')}`,
    '  -h, --help      this help',
    '',
    'Secrets are read from environment variables only (never flags):',
    ...secrets,
    '  hosting token, database URL: the variables your runbook names (hosting.token-env,',
    '                  database.url-env; default per provider: VERCEL_TOKEN, NETLIFY_AUTH_TOKEN,',
    '                  GH_VARIABLES_TOKEN; DATABASE_URL)',
    '',
    'The repository of the status comment and incident issue (without it, neither is made):',
    '  GITHUB_REPOSITORY owner/repo; GITHUB_API_URL, GITHUB_SERVER_URL for GitHub Enterprise Server',
    '',
    'Exit status: 0 planned/succeeded, 1 failed, 2 invalid runbook or input.'
  ].join('\n')
}

const stderrLogger: Logger = {
  info: m => process.stderr.write(`${m}\n`),
  warn: m => process.stderr.write(`warning: ${m}\n`),
  error: m => process.stderr.write(`error: ${m}\n`),
  debug: m => {
    if (process.env.ROLLBACK_DEBUG) process.stderr.write(`debug: ${m}\n`)
  }
}

/** The repository of the status comment and incident issue; set but malformed is a typo. */
function githubTarget(env: NodeJS.ProcessEnv): GitHubTarget | undefined {
  const repository = env.GITHUB_REPOSITORY?.trim()
  if (!repository) return undefined
  const [owner, repo, ...rest] = repository.split('/')
  if (!owner || !repo || rest.length > 0) {
    throw new InputError([
      `$GITHUB_REPOSITORY: "${repository}" is not owner/repo; set it to the repository of the comments and incident issue (e.g. acme/app), or unset it`
    ])
  }
  return {
    apiUrl: env.GITHUB_API_URL ?? 'https://api.github.com',
    serverUrl: env.GITHUB_SERVER_URL ?? 'https://github.com',
    owner,
    repo
  }
}

/** The CLI's own flags, besides one per input. */
const CLI_FLAGS = {
  workdir: { type: 'string' },
  report: { type: 'string' },
  json: { type: 'boolean' },
  markdown: { type: 'boolean' },
  'release-lock': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' }
} as const

type ArgToken = NonNullable<ReturnType<typeof parseArgs>['tokens']>[number]

/** What release-lock may be given: it releases the lock and does nothing else. */
const RELEASE_LOCK_FLAGS = ['release-lock', 'runbook', 'workdir']

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const options = Object.fromEntries(PLAIN_INPUTS.map(name => [name, { type: 'string' as const }]))
  const secretFlag = secretFlagProblem(argv)
  if (secretFlag !== undefined) {
    process.stderr.write(`${secretFlag}\nnothing was changed\n`)
    return 2
  }
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      tokens: true,
      options: {
        ...options,
        ...CLI_FLAGS
      }
    })
  } catch (err) {
    process.stderr.write(
      `${hideCredentials(argsProblem(err as Error))}\nnothing was changed\n\n${usage()}\n`
    )
    return 2
  }
  const { values, positionals, tokens } = parsed
  if (values.help) {
    process.stdout.write(`${usage()}\n`)
    return 0
  }
  const flagProblem = flagProblems(tokens, positionals)
  if (flagProblem !== undefined) {
    process.stderr.write(`${hideCredentials(flagProblem)}\nnothing was changed\n`)
    return 2
  }
  const flag = (name: string) => values[name as keyof typeof values] as string | undefined
  const workdir = resolve(flag('workdir') ?? process.cwd())
  const runbookPath = resolve(flag('runbook') ?? INPUTS.runbook.default)
  if (values['release-lock']) return releaseStaleLock(runbookPath, workdir, env)
  if (positionals.length !== 1) {
    const got = positionals.length === 0 ? 'none' : `"${positionals.join(' ')}"`
    process.stderr.write(
      `${hideCredentials(`expected exactly one command (plan, run or drill), got ${got}`)}\nnothing was changed\n\n${usage()}\n`
    )
    return 2
  }
  const raw: RawInputs = { command: positionals[0] }
  for (const name of REQUEST_INPUTS) {
    raw[name] = flag(name)
  }
  const runId = `cli-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${process.pid}`
  const cancellation = abortOnSignals(m => stderrLogger.warn(m))
  try {
    const outcome = await rollback({
      runbookPath,
      inputs: raw,
      trigger: { kind: 'cli', actor: env.USER },
      runId,
      workdir,
      env,
      // Only the token has a fixed variable; the hosting token and database URL come from the
      // variables the runbook names, never from a generic one left in the shell.
      secrets: {
        githubToken: env.GITHUB_TOKEN || undefined,
        pushToken: env.ROLLBACK_PUSH_TOKEN || undefined
      },
      github: githubTarget(env),
      reportPath: resolve(flag('report') ?? `rollback-report-${runId}.json`),
      log: stderrLogger,
      signal: cancellation.signal,
      lockWait: flag('lock-wait'),
      lockStaleAfter: flag('lock-stale-after')
    })
    const { readFile } = await import('node:fs/promises')
    const out = values.json
      ? await readFile(outcome.outputs.report!, 'utf8')
      : values.markdown
        ? outcome.markdown
        : outcome.text
    process.stdout.write(`${out}\n`)
    if (!values.json) process.stderr.write(`\nreport: ${outcome.outputs.report}\n`)
    return outcome.journal.status === 'failed' ? 1 : 0
  } catch (err) {
    if (err instanceof RunbookError || err instanceof InputError) {
      process.stderr.write(`${err.message}\nnothing was changed\n`)
      return 2
    }
    process.stderr.write(
      `error: ${new Redactor().redact(err instanceof Error ? err.message : String(err))}\n`
    )
    return 1
  } finally {
    cancellation.dispose()
  }
}

async function releaseStaleLock(
  runbookPath: string,
  workdir: string,
  env: NodeJS.ProcessEnv
): Promise<number> {
  try {
    const done = await releaseLock({
      runbookPath,
      workdir,
      env,
      githubToken: env.ROLLBACK_PUSH_TOKEN || env.GITHUB_TOKEN || undefined,
      log: stderrLogger
    })
    process.stdout.write(`${done}\n`)
    return 0
  } catch (err) {
    if (err instanceof RunbookError || err instanceof InputError) {
      process.stderr.write(`${err.message}\nnothing was changed\n`)
      return 2
    }
    process.stderr.write(`error: ${new Redactor().redact(describe(err))}\n`)
    return 1
  }
}

function describe(err: unknown): string {
  if (err instanceof RollbackError && err.hint) return `${err.message} (${err.hint})`
  return err instanceof Error ? err.message : String(err)
}

// A rejection no caller awaits (a library's detached promise) ends the process as Node would,
// but in one line: an operator never sees a stack trace.
process.on('uncaughtException', err => {
  process.stderr.write(`error: ${new Redactor().redact(describe(err))}\n`)
  process.exit(1)
})

process.exitCode = await untilFinished(
  () => main(process.argv.slice(2), process.env),
  () => process.stderr.write('error: stopped before finishing (an operation never completed)\n')
)

/**
 * parseArgs's refusal as one line naming the flag and the fix: an unknown option (with a "did you
 * mean" for a typo), a flag missing its value, a switch given one.
 */
function argsProblem(err: Error & { code?: string }): string {
  const option = /^(?:Unknown option|Option) '(-{1,2}[^' ]*)/.exec(err.message)?.[1]
  if (!option) return err.message.split('\n')[0]!
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const known = [...PLAIN_INPUTS, ...Object.keys(CLI_FLAGS)].map(name => `--${name}`)
    const guess = closest(option, known)
    return `unknown option ${option}${guess ? ` (did you mean ${guess}?)` : ''}; see the options below`
  }
  if (/does not take an argument/.test(err.message)) {
    return `${option} is a switch and takes no value: write ${option} alone; see the options below`
  }
  return `${option} needs a value: write ${option} <value> (a value starting with "-" as ${option}=<value>); see the options below`
}

/**
 * Command lines parseArgs accepts but that would run something other than what was typed: a flag
 * given twice (the last would win silently), an empty value (an unset shell variable: a run
 * without the commits it was meant to revert), --json with --markdown, and --release-lock with a
 * command or flags it would ignore.
 */
function flagProblems(tokens: ArgToken[], positionals: string[]): string | undefined {
  const options = tokens.filter(t => t.kind === 'option')
  const names = options.map(t => t.name)
  const repeated = names.find((name, i) => names.indexOf(name) !== i)
  if (repeated !== undefined) {
    const list = repeated === 'revert' ? ' (several commits go in one value: --revert "A,B")' : ''
    return `--${repeated}: given more than once, so one would be ignored; give it once${list}`
  }
  const empty = options.find(t => t.value !== undefined && t.value.trim() === '')
  if (empty !== undefined) {
    return `--${empty.name}: the value is empty (an unset variable?); give a value or leave the flag out`
  }
  if (names.includes('json') && names.includes('markdown')) {
    return '--json, --markdown: choose one output form (the text summary without either)'
  }
  if (!names.includes('release-lock')) return undefined
  const ignored = [
    ...positionals,
    ...names.filter(name => !RELEASE_LOCK_FLAGS.includes(name)).map(name => `--${name}`)
  ]
  if (ignored.length === 0) return undefined
  return `--release-lock: it releases the lock and does nothing else, so ${ignored.join(', ')} would be ignored; give only --runbook and --workdir with it, and run the rest as a command of its own`
}
