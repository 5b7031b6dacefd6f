/**
 * npm run demo: the seed's whole rollback, for real, on this machine.
 * Starts a throwaway PostgreSQL with the seed's outline_sessions (streaming columns, the unique
 * index, stuck sessions), a bare git remote with a "streaming migration" history checked out at
 * depth 1 (as actions/checkout does), a Vercel stand-in serving the app with streaming on, a
 * GitHub stand-in and a webhook sink; then runs examples/streaming-migration/rollback.yml through
 * the real engine (command run, severity critical) and prints the summary and the evidence.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseDocument } from 'yaml'
import type { Logger } from '../src/model.js'
import { rollback } from '../src/rollback.js'
import { startGitHubStandin } from '../test/support/github-standin.js'
import { startWebhookSink } from '../test/support/http.js'
import {
  createTestDatabase,
  loadSqlFile,
  queryRows,
  startThrowawayPostgres
} from '../test/support/postgres.js'
import { startVercelStandin } from '../test/support/vercel-standin.js'
import { createStreamingRemote } from './fixtures/git-remote.js'

const EXAMPLE = 'examples/streaming-migration/rollback.yml'
const INCIDENT_ISSUE = 7

const say = (text: string) => process.stdout.write(`${text}\n`)
const quietLog: Logger = {
  info: m => say(`  ${m}`),
  warn: m => say(`  warning: ${m}`),
  error: m => say(`  error: ${m}`),
  debug: () => {}
}

/** The example runbook, pointed at the local stand-ins and with a short monitoring window. */
function demoRunbook(vercelUrl: string): string {
  const doc = parseDocument(readFileSync(EXAMPLE, 'utf8'))
  doc.setIn(['hosting', 'api-url'], vercelUrl)
  doc.setIn(['verify', 'checks', 0, 'url'], `${vercelUrl}/app/admin/o3-deep-research-diagnostics`)
  doc.setIn(['verify', 'checks', 0, 'timeout'], '1m')
  doc.setIn(['verify', 'checks', 0, 'interval'], '1s')
  doc.setIn(['monitor', 'health', 0, 'url'], `${vercelUrl}/app/api/health`)
  doc.setIn(['monitor', 'duration'], '4s')
  doc.setIn(['monitor', 'interval'], '1s')
  return doc.toString()
}

async function main(): Promise<number> {
  const root = mkdtempSync(join(tmpdir(), 'emergency-rollback-demo-'))
  say('== Starting the local world')
  const postgres = await startThrowawayPostgres()
  const cleanup: (() => Promise<unknown>)[] = [() => postgres.stop()]
  try {
    const databaseUrl = await createTestDatabase(postgres.url, 'outline_demo')
    await loadSqlFile(databaseUrl)
    say(`  PostgreSQL: ${databaseUrl} (seed: examples/streaming-migration/seed.sql)`)
    mkdirSync(join(root, 'git'))
    const repo = await createStreamingRemote(join(root, 'git'), { depth: 1 })
    say(`  git remote: ${repo.remoteUrl}, checkout at depth 1: ${repo.workdir}`)
    const vercel = await startVercelStandin({
      env: [{ key: 'NEXT_PUBLIC_USE_STREAMING', value: 'true' }],
      tickMs: 100
    })
    cleanup.push(() => vercel.close())
    const github = await startGitHubStandin({ issues: [INCIDENT_ISSUE] })
    cleanup.push(() => github.close())
    const webhook = await startWebhookSink()
    cleanup.push(() => webhook.close())
    say(`  Vercel stand-in: ${vercel.url} (production built with NEXT_PUBLIC_USE_STREAMING=true)`)
    say(`  GitHub stand-in: ${github.url}, webhook sink: ${webhook.url}`)

    const runbookPath = join(root, 'rollback.yml')
    writeFileSync(runbookPath, demoRunbook(vercel.url))
    const before = await databaseFacts(databaseUrl)
    say('')
    say(`== Running ${EXAMPLE}: run, severity critical, revert ${repo.streamingRange}`)
    const outcome = await rollback({
      runbookPath,
      inputs: { command: 'run', severity: 'critical', revert: repo.streamingRange },
      trigger: { kind: 'dispatch', actor: 'on-call', issueNumber: INCIDENT_ISSUE },
      runId: `demo-${Date.now()}`,
      workdir: repo.workdir,
      env: {
        VERCEL_TOKEN: vercel.token,
        DATABASE_URL: databaseUrl,
        ROLLBACK_WEBHOOK_URL: webhook.url
      },
      secrets: { githubToken: github.token },
      github: {
        apiUrl: github.url,
        serverUrl: github.serverUrl,
        owner: github.owner,
        repo: github.repo
      },
      reportPath: join(root, 'report.json'),
      log: quietLog
    })
    say('')
    say('== Summary')
    say(outcome.text)
    say('')
    say('== Evidence')
    const after = await databaseFacts(databaseUrl)
    say(`  database: stuck active sessions ${before.stuck} -> ${after.stuck}`)
    say(`  database: streaming columns ${before.columns} -> ${after.columns}`)
    say(`  database: unique index present ${before.index} -> ${after.index}`)
    const log = execFileSync('git', ['-C', repo.remoteDir, 'log', '--oneline', '-3', 'main'])
    say(`  git remote main:\n${indent(log.toString())}`)
    const live = vercel.liveDeployment()
    say(
      `  hosting: live deployment built with NEXT_PUBLIC_USE_STREAMING=${live?.env.NEXT_PUBLIC_USE_STREAMING}`
    )
    const page = await fetch(`${vercel.url}/app/admin/o3-deep-research-diagnostics`)
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
    for (const stop of cleanup.reverse()) await stop().catch(() => undefined)
  }
}

async function databaseFacts(url: string) {
  const [row] = await queryRows<{ stuck: string; columns: string; index: boolean }>(
    url,
    `SELECT
       (SELECT count(*) FROM outline_sessions
         WHERE is_active AND (status = 'error' OR updated_at < now() - interval '30 minutes')) AS stuck,
       (SELECT count(*) FROM information_schema.columns
         WHERE table_name = 'outline_sessions'
           AND column_name IN ('last_sequence_number', 'connection_status', 'stream_started_at', 'partial_content')) AS columns,
       EXISTS (SELECT 1 FROM pg_class WHERE relname = 'uniq_outline_active_per_workflow') AS index`
  )
  return { stuck: Number(row!.stuck), columns: Number(row!.columns), index: row!.index }
}

function indent(text: string): string {
  return text
    .trim()
    .split('\n')
    .map(line => `    ${line}`)
    .join('\n')
}

process.exitCode = await main()
