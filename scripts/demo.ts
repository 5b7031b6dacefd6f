/**
 * npm run demo: the seed's whole rollback, for real, on this machine (see fixtures/demo-world.ts
 * for the local world it starts). Runs examples/streaming-migration/rollback.yml through the real
 * engine (command run, severity critical) and prints the summary and the evidence.
 * `npm run demo -- --provider netlify` plays the hosting part with the Netlify stand-in.
 */
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import type { Logger } from '../src/model.js'
import { rollback } from '../src/rollback.js'
import {
  EXAMPLE_RUNBOOK,
  INCIDENT_ISSUE,
  databaseFacts,
  startDemoWorld,
  type DemoProvider
} from './fixtures/demo-world.js'

const say = (text: string) => process.stdout.write(`${text}\n`)
const log: Logger = {
  info: m => say(`  ${m}`),
  warn: m => say(`  warning: ${m}`),
  error: m => say(`  error: ${m}`),
  debug: () => {}
}

const PROVIDERS: Record<DemoProvider, string> = { vercel: 'Vercel', netlify: 'Netlify' }

/** A bad command line: one line and exit 2, as in the CLI. */
class UsageError extends Error {}

function providerArg(): DemoProvider {
  const usage = `usage: npm run demo [-- --provider ${Object.keys(PROVIDERS).join('|')}]`
  let provider: DemoProvider
  try {
    const options = { provider: { type: 'string', default: 'vercel' } } as const
    provider = parseArgs({ options }).values.provider as DemoProvider
  } catch (err) {
    throw new UsageError(`${(err as Error).message.split('\n')[0]}; ${usage}`)
  }
  if (!(provider in PROVIDERS))
    throw new UsageError(
      `--provider ${provider}: expected one of ${Object.keys(PROVIDERS).join(', ')}; ${usage}`
    )
  return provider
}

async function main(): Promise<number> {
  const provider = providerArg()
  say('== Starting the local world')
  const world = await startDemoWorld(provider)
  try {
    const { repo, hosting, github, webhook } = world
    say(`  PostgreSQL: ${world.databaseUrl} (seed: examples/streaming-migration/seed.sql)`)
    say(`  git remote: ${repo.remoteUrl}, checkout at depth 1: ${repo.workdir}`)
    say(
      `  ${PROVIDERS[provider]} stand-in: ${hosting.url} (production built with NEXT_PUBLIC_USE_STREAMING=true)`
    )
    say(`  GitHub stand-in: ${github.url}, webhook sink: ${webhook.url}`)
    const before = await databaseFacts(world.databaseUrl)
    say('')
    say(`== Running ${EXAMPLE_RUNBOOK}: run, severity critical, revert ${repo.streamingRange}`)
    const outcome = await rollback({
      runbookPath: world.runbookPath,
      inputs: { command: 'run', severity: 'critical', revert: repo.streamingRange },
      trigger: { kind: 'dispatch', actor: 'on-call', issueNumber: INCIDENT_ISSUE },
      runId: `demo-${Date.now()}`,
      workdir: repo.workdir,
      env: { ...process.env, ...world.env },
      secrets: { githubToken: github.token },
      github: {
        apiUrl: github.url,
        serverUrl: github.serverUrl,
        owner: github.owner,
        repo: github.repo
      },
      reportPath: join(world.root, 'report.json'),
      log
    })
    say('')
    say('== Summary')
    say(outcome.text)
    say('')
    say('== Evidence')
    const after = await databaseFacts(world.databaseUrl)
    say(`  database: stuck active sessions ${before.stuck} -> ${after.stuck}`)
    say(`  database: streaming columns ${before.columns} -> ${after.columns}`)
    say(`  database: unique index present ${before.index} -> ${after.index}`)
    const gitLog = execFileSync('git', ['-C', repo.remoteDir, 'log', '--oneline', '-3', 'main'])
    say(`  git remote main:\n${indent(gitLog.toString())}`)
    say(
      `  hosting: live deployment built with NEXT_PUBLIC_USE_STREAMING=${hosting.liveValue('NEXT_PUBLIC_USE_STREAMING')}`
    )
    const page = await fetch(`${hosting.url}/app/admin/o3-deep-research-diagnostics`)
    say(`  app: diagnostics page says "${(await page.text()).match(/\w+ mode/)?.[0]}"`)
    const comment = github.comments
      .at(-1)
      ?.body.split('\n')
      .find(l => l && !l.startsWith('<!--'))
    say(`  GitHub: status comment on #${INCIDENT_ISSUE}: "${comment}"`)
    say(`  GitHub: incident issue: "${github.issues.at(-1)?.title}"`)
    say(`  webhook: ${webhook.received.length} notifications`)
    say(`  report: ${outcome.outputs.report}`)
    return outcome.journal.status === 'succeeded' ? 0 : 1
  } finally {
    await world.stop()
  }
}

function indent(text: string): string {
  return text
    .trim()
    .split('\n')
    .map(line => `    ${line}`)
    .join('\n')
}

// One line, never a stack trace (a missing PostgreSQL, an unreachable DATABASE_URL...).
process.exitCode = await main().catch((err: unknown) => {
  process.stderr.write(`demo: ${err instanceof Error ? err.message : String(err)}\n`)
  return err instanceof UsageError ? 2 : 1
})
