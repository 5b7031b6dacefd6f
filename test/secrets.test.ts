/**
 * Secrets: the variables that hold them come from the schema (`x-secret`), one redactor hides
 * every form of them, and no output of a run ever shows one, whatever its value.
 */
import { describe, expect, it } from '@jest/globals'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { rollback } from '../src/rollback.js'
import { InputError } from '../src/request.js'
import { EACH, markedFields, valuesAt } from '../src/runbook/schema-fields.js'
import { runbookFrom } from '../src/runbook/validate.js'
import { runbookJsonSchema } from '../src/runbook/validate.generated.js'
import {
  secretFieldPaths,
  secretProblems,
  secretSources,
  secretVariableNames
} from '../src/secrets.js'
import { Redactor } from '../src/util/redact.js'
import { createStreamingRemote } from '../scripts/fixtures/git-remote.js'
import { runAction } from './support/action-runner.js'
import { BUNDLE_TIMEOUT_MS } from './support/bundle.js'
import { recordingLogger } from './support/context.js'
import { git } from './support/git.js'
import { startGitHubStandin } from './support/github-standin.js'
import { startWebhookSink } from './support/http.js'
import { seededDatabase } from './support/postgres.js'
import { startVercelStandin } from './support/vercel-standin.js'

type Node = Record<string, unknown>

/** Every field of the schema whose name ends in -env, found by a walk of its own. */
function envFields(node: unknown, path: string[] = []): string[][] {
  if (typeof node !== 'object' || node === null) return []
  const n = node as Node
  const here = Object.entries((n.properties ?? {}) as Record<string, unknown>).flatMap(
    ([key, child]) => [
      ...(key.endsWith('-env') ? [[...path, key]] : []),
      ...envFields(child, [...path, key])
    ]
  )
  const items = n.items ? envFields(n.items, [...path, EACH]) : []
  const alternatives = [
    ...((n.anyOf ?? []) as unknown[]),
    ...((n.oneOf ?? []) as unknown[])
  ].flatMap(c => envFields(c, path))
  return [...here, ...items, ...alternatives]
}

describe('secret-bearing fields come from the schema', () => {
  it('every *-env field of the runbook schema is marked x-secret and so masked and redacted', () => {
    // A field in every branch of a union (hosting, per provider) counts once.
    const sorted = (paths: string[][]) => [...new Set(paths.map(p => p.join('.')))].sort()
    expect(sorted(secretFieldPaths())).toEqual(sorted(envFields(runbookJsonSchema)))
    expect(sorted(secretFieldPaths())).toEqual([
      'database.url-env',
      'hosting.token-env',
      'notify.webhook-env'
    ])
  })

  it('a new field marked x-secret, anywhere (in a list, in a union), is found without a list to update', () => {
    const schema = {
      type: 'object',
      properties: {
        pager: {
          type: 'array',
          items: {
            anyOf: [
              { type: 'object', properties: { 'key-env': { type: 'string', 'x-secret': true } } }
            ]
          }
        }
      }
    }
    const fields = markedFields<boolean>('x-secret', schema)
    expect(fields.map(f => f.path)).toEqual([['pager', EACH, 'key-env']])
    expect(
      valuesAt({ pager: [{ 'key-env': 'A' }, {}, { 'key-env': 'B' }] }, fields[0]!.path)
    ).toEqual([
      { path: ['pager', 0, 'key-env'], value: 'A' },
      { path: ['pager', 2, 'key-env'], value: 'B' }
    ])
  })

  it('the variables a runbook names are its secrets, with the schema defaults', () => {
    const runbook = runbookFrom({
      version: 1,
      name: 'x',
      hosting: { provider: 'vercel', project: 'p', 'token-env': 'PROD_VERCEL' },
      database: {},
      notify: { 'webhook-env': 'SLACK_HOOK' }
    })
    expect(secretVariableNames(runbook).sort()).toEqual([
      'DATABASE_URL',
      'PROD_VERCEL',
      'SLACK_HOOK'
    ])
  })

  it('a secret with a line break or a control character is refused, naming where it came from', () => {
    const runbook = runbookFrom({
      version: 1,
      name: 'x',
      hosting: { provider: 'vercel', project: 'p' }
    })
    const sources = secretSources(
      runbook,
      { VERCEL_TOKEN: 'abc\ndef' },
      { githubToken: 'gh\u0000x' }
    )
    const problems = secretProblems(sources)
    expect(problems).toHaveLength(2)
    expect(problems[0]).toMatch(/^github-token \(GITHUB_TOKEN\): the value contains a line break/)
    expect(problems[1]).toMatch(/^\$VERCEL_TOKEN: the value contains a line break/)
    expect(problems.join()).not.toMatch(/abc|def/)
  })
})

/** Secrets as people make them: letters, digits and the punctuation tokens and passwords use. */
const secretValue = fc
  .string({
    unit: fc.constantFrom(
      ...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~+/=!$&@:?#%"\\ '.split(
        ''
      )
    ),
    minLength: 12,
    maxLength: 40
  })
  .map(s => `Zq${s}`)

const base64 = (s: string) => Buffer.from(s).toString('base64')

describe('the redactor', () => {
  it('hides a secret plain, URL-encoded, JSON-escaped and in base64 at any offset (a Basic credential)', () => {
    fc.assert(
      fc.property(secretValue, fc.string({ maxLength: 5 }), (secret, prefix) => {
        const redactor = new Redactor()
        redactor.add(secret)
        const text = [
          secret,
          encodeURIComponent(secret),
          JSON.stringify({ secret }),
          `Authorization: Basic ${base64(`x-access-token:${secret}`)}`,
          base64(prefix + secret),
          Buffer.from(prefix + secret).toString('base64url')
        ].join('\n')
        const out = redactor.redact(text)
        expect(out).not.toContain(secret)
        expect(out).not.toContain(encodeURIComponent(secret))
        // No run of the secret's base64 long enough to decode a third of it survives.
        for (const offset of [0, 1, 2]) {
          const encoded = base64('\0'.repeat(offset) + secret).slice(4, 16)
          expect(out).not.toContain(encoded)
        }
      }),
      { numRuns: 300 }
    )
  })

  it('hides what looks like a credential even when nobody registered it', () => {
    const out = new Redactor().redact(
      'token ghp_abcdefghijklmnopqrstuvwxyz0123 at postgres://u:pw@h/db'
    )
    expect(out).toBe('token *** at postgres://u:***@h/db')
  })
})

describe('no output of a run shows a secret', () => {
  it('random secret values never appear in the log, the text, the markdown, the report or the journal', async () => {
    // A hosting API that repeats the credentials it was sent in its error messages.
    const server = createServer((req, res) => {
      res.writeHead(403, { 'content-type': 'application/json' })
      res.end(
        JSON.stringify({
          error: { code: 'forbidden', message: `bad token ${req.headers.authorization}` }
        })
      )
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const dir = mkdtempSync(join(tmpdir(), 'secrets-'))
    const runbookPath = join(dir, 'rollback.yml')
    writeFileSync(
      runbookPath,
      [
        'version: 1',
        'name: secrets',
        'hosting: {provider: vercel, project: web, token-env: HOSTING_TOKEN, api-url: "' +
          api +
          '"}',
        'flags: {set: {NEXT_PUBLIC_USE_STREAMING: "false"}}',
        'database:',
        '  url-env: PROD_DB',
        '  steps: [{name: s, sql: SELECT 1}]',
        'notify: {webhook-env: HOOK}',
        ''
      ].join('\n')
    )
    try {
      await fc.assert(
        fc.asyncProperty(secretValue, secretValue, secretValue, async (token, password, hook) => {
          const log = recordingLogger()
          const reportPath = join(dir, 'report.json')
          const env = {
            HOSTING_TOKEN: token,
            PROD_DB: `postgres://app:${encodeURIComponent(password)}@127.0.0.1:1/app`,
            HOOK: `${api}/hook/${encodeURIComponent(hook)}`
          }
          const outcome = await rollback({
            runbookPath,
            inputs: { command: 'plan', severity: 'critical' },
            trigger: { kind: 'cli' },
            runId: 'secrets',
            workdir: dir,
            env,
            secrets: { githubToken: `${token}-gh` },
            reportPath,
            log,
            sleep: async () => {}
          })
          const outputs = [
            log.lines.join('\n'),
            outcome.text,
            outcome.markdown,
            JSON.stringify(outcome.journal),
            readFileSync(reportPath, 'utf8')
          ].join('\n')
          for (const secret of [token, password, hook, `${token}-gh`]) {
            expect(outputs).not.toContain(secret)
            expect(outputs).not.toContain(encodeURIComponent(secret))
            expect(outputs).not.toContain(base64(secret).slice(0, 16))
          }
        }),
        { numRuns: 12 }
      )
    } finally {
      server.close()
    }
  }, 120_000)

  it('a token with a newline is refused before anything runs, naming the variable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'secrets-'))
    const runbookPath = join(dir, 'rollback.yml')
    writeFileSync(
      runbookPath,
      'version: 1\nname: x\nhosting: {provider: vercel, project: web}\nflags: {set: {A: "1"}}\n'
    )
    const err = await rollback({
      runbookPath,
      inputs: { command: 'plan' },
      trigger: { kind: 'cli' },
      runId: 'nl',
      workdir: dir,
      env: { VERCEL_TOKEN: 'tok\nen' },
      secrets: {},
      reportPath: join(dir, 'r.json'),
      log: recordingLogger()
    }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InputError)
    expect((err as InputError).problems).toEqual([
      '$VERCEL_TOKEN: the value contains a line break or another control character; set it to the bare secret (no trailing newline)'
    ])
  })
})

/** Secrets that travel in an HTTP header (a token): no whitespace, which a header would trim. */
const headerSecret = fc.stringMatching(/^[A-Za-z0-9._~+/=-]{16,32}$/).map(s => `Zq${s}`)

/** Every form a secret could leak in: plain, URL-encoded, JSON-escaped, the start of its base64. */
function forms(secret: string): string[] {
  return [
    secret,
    encodeURIComponent(secret),
    JSON.stringify(secret).slice(1, -1),
    base64(secret).slice(0, 16),
    Buffer.from(secret).toString('base64url').slice(0, 16)
  ]
}

function expectNone(where: string, text: string, secrets: string[]): void {
  for (const secret of secrets)
    for (const form of forms(secret)) expect([where, text.includes(form)]).toEqual([where, false])
}

describe('a drill and a run that reach every service show no secret where it does not belong', () => {
  it('outputs, request bodies, other services’ requests, commits and the checkout’s config', async () => {
    await fc.assert(
      fc.asyncProperty(
        headerSecret,
        headerSecret,
        secretValue,
        secretValue,
        async (hostingToken, githubToken, password, hook) => {
          const dir = mkdtempSync(join(tmpdir(), 'secrets-run-'))
          const fx = await createStreamingRemote(dir, { depth: 1 })
          const db = new URL(await seededDatabase())
          // The test server trusts 127.0.0.1: any password connects, so a random one can be used.
          db.password = encodeURIComponent(password)
          const vercel = await startVercelStandin({
            token: hostingToken,
            env: [{ key: 'NEXT_PUBLIC_USE_STREAMING', value: 'true' }]
          })
          const github = await startGitHubStandin({ token: githubToken, issues: [42] })
          const sink = await startWebhookSink()
          const runbookPath = join(dir, 'rollback.yml')
          writeFileSync(
            runbookPath,
            JSON.stringify({
              version: 1,
              name: 'secrets-run',
              hosting: {
                provider: 'vercel',
                project: 'outline-app',
                'api-url': vercel.url,
                'token-env': 'HOSTING_TOKEN'
              },
              flags: { set: { NEXT_PUBLIC_USE_STREAMING: 'false' }, redeploy: false },
              database: {
                'url-env': 'PROD_DB',
                steps: [
                  {
                    name: 'reset stuck sessions',
                    'batch-update': {
                      table: 'outline_sessions',
                      set: { is_active: 'false' },
                      where: "is_active AND status = 'error'",
                      'batch-size': 1000
                    }
                  }
                ]
              },
              git: { remote: 'origin', branch: 'main', strategy: 'revert' },
              notify: {
                'status-comment': true,
                'incident-issue': { labels: ['incident'] },
                'webhook-env': 'HOOK'
              }
            })
          )
          const log = recordingLogger()
          const secrets = [hostingToken, githubToken, password, hook]
          const outputs: string[] = []
          try {
            for (const command of ['drill', 'run']) {
              const reportPath = join(dir, `${command}.json`)
              const outcome = await rollback({
                runbookPath,
                inputs: {
                  command,
                  severity: 'critical',
                  phases: 'flags,database,git,notify',
                  revert: fx.streamingRange
                },
                trigger: { kind: 'chatops', actor: 'octo-admin', issueNumber: 42 },
                runId: `secrets-${command}`,
                workdir: fx.workdir,
                env: {
                  PATH: process.env.PATH,
                  HOME: process.env.HOME,
                  HOSTING_TOKEN: hostingToken,
                  PROD_DB: db.toString(),
                  HOOK: `${sink.url}/hook/${encodeURIComponent(hook)}`
                },
                secrets: { githubToken },
                github: {
                  apiUrl: github.url,
                  serverUrl: github.serverUrl,
                  owner: github.owner,
                  repo: github.repo,
                  runUrl: `${github.serverUrl}/${github.owner}/${github.repo}/actions/runs/9`
                },
                reportPath,
                log,
                sleep: async () => {}
              })
              expect([command, outcome.journal.error]).toEqual([command, undefined])
              outputs.push(
                outcome.text,
                outcome.markdown,
                JSON.stringify(outcome.journal),
                readFileSync(reportPath, 'utf8')
              )
            }
            // It did reach every service: the flag, a comment and an issue, the webhook, the push.
            expect(vercel.requests.some(r => r.method !== 'GET')).toBe(true)
            expect(github.issues.length).toBeGreaterThan(1)
            expect(sink.received.length).toBeGreaterThan(0)
            expect(
              git(fx.remoteDir, 'rev-list', '--count', `${fx.streamingShas.at(-1)}..main`)
            ).not.toBe('0')

            expectNone('outputs', [log.lines.join('\n'), ...outputs].join('\n'), secrets)
            // Each service gets its own credential in its Authorization header, and nothing else.
            const seen = (requests: typeof vercel.requests, own: string) =>
              requests.map(r => {
                // Octokit sends a GitHub token shaped like a JWT (three dot parts) as `bearer`.
                const jwtShaped = own === githubToken && own.split('.').length === 3
                const scheme = jwtShaped ? 'bearer' : '(Bearer|token)'
                expect(r.authorization ?? `${jwtShaped ? 'bearer' : 'Bearer'} ${own}`).toMatch(
                  new RegExp(`^${scheme} ${own.replace(/[.*+?^${}()|[\]\\/=-]/g, '\\$&')}$`)
                )
                const { authorization: _, ...headers } = r.headers
                return JSON.stringify([r.method, r.path, r.query, r.rawBody, headers])
              })
            expectNone('hosting requests', seen(vercel.requests, hostingToken).join('\n'), secrets)
            expectNone('GitHub requests', seen(github.requests, githubToken).join('\n'), secrets)
            expectNone(
              'webhook bodies',
              sink.received.map(r => JSON.stringify([r.rawBody, r.headers])).join('\n'),
              secrets
            )
            // Commits (the revert, the drill's trial) and the checkout's config hold none either.
            for (const repo of [fx.remoteDir, fx.workdir]) {
              const history = git(
                repo,
                'log',
                '--all',
                '--reflog',
                '-p',
                '--format=%H %an <%ae> %cn <%ce>%n%B'
              )
              expectNone(`commits of ${repo}`, history, secrets)
            }
            expectNone('git config', git(fx.workdir, 'config', '--list'), secrets)
          } finally {
            await Promise.all([vercel.close(), github.close(), sink.close()])
            rmSync(dir, { recursive: true, force: true })
          }
        }
      ),
      // Each is a drill and a run against every service: one generated set of values beside a
      // fixed one is enough here (the run above varies them widely). The fixed one holds a GitHub
      // token shaped like a JWT, which Octokit presents as `bearer`. A failure is reported with its
      // values at once: shrinking whole runs would outlast the test's time limit.
      {
        numRuns: 2,
        endOnFailure: true,
        examples: [
          [
            'Zq_hosting.token+/=1',
            'Zq_D-6c+++.Q~/~==~=.~-_---3=',
            'Zqpw d"x\\ 1234567',
            'Zqhook~1:2@3#4$5'
          ]
        ]
      }
    )
  }, 240_000)
})

describe('the action’s channels show no secret a hosting API echoes', () => {
  it(
    'annotations and log lines, the outputs file and the job summary of the bundled action',
    async () => {
      // A hosting API that repeats the credentials it was sent in its error messages.
      const server = createServer((req, res) => {
        res.writeHead(403, { 'content-type': 'application/json' })
        res.end(
          JSON.stringify({
            error: { code: 'forbidden', message: `bad token ${req.headers.authorization}` }
          })
        )
      })
      await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
      const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      const dir = mkdtempSync(join(tmpdir(), 'secrets-action-'))
      const runbookPath = join(dir, 'rollback.yml')
      writeFileSync(
        runbookPath,
        JSON.stringify({
          version: 1,
          name: 'secrets-action',
          hosting: {
            provider: 'vercel',
            project: 'web',
            'token-env': 'HOSTING_TOKEN',
            'api-url': api
          },
          flags: { set: { NEXT_PUBLIC_USE_STREAMING: 'false' } },
          database: { 'url-env': 'PROD_DB', steps: [{ name: 's', sql: 'SELECT 1' }] }
        })
      )
      try {
        await fc.assert(
          fc.asyncProperty(headerSecret, headerSecret, secretValue, async (token, gh, password) => {
            const run = await runAction(
              {
                runbook: runbookPath,
                command: 'run',
                severity: 'critical',
                phases: 'flags,database',
                'github-token': gh
              },
              {
                HOSTING_TOKEN: token,
                PROD_DB: `postgres://app:${encodeURIComponent(password)}@127.0.0.1:1/app`
              }
            )
            expect(run.code).toBe(1)
            expect(run.stdout).toMatch(/::error::/)
            // The masks themselves name the secrets (that is how the runner learns them).
            const said = run.stdout
              .split('\n')
              .filter(l => !l.startsWith('::add-mask::'))
              .join('\n')
            const channels = [said, run.stderr, JSON.stringify(run.outputs), run.summary].join('\n')
            expectNone('the action’s channels', channels, [token, gh, password])
          }),
          { numRuns: 2, endOnFailure: true }
        )
      } finally {
        server.close()
      }
    },
    BUNDLE_TIMEOUT_MS
  )
})
