import { describe, expect, it } from '@jest/globals'
import { readFileSync } from 'node:fs'
import { loadRunbook, parseRunbook, RunbookError } from '../src/runbook/load.js'
import { validateRunbook } from '../src/runbook/validate.js'

const FILE = 'rollback.yml'

function problemsOf(yaml: string): string[] {
  try {
    parseRunbook(yaml, FILE)
  } catch (err) {
    if (err instanceof RunbookError) return err.message.split('\n')
    throw err
  }
  throw new Error('expected the runbook to be rejected')
}

const base = 'version: 1\nname: demo\n'
// Appended after `flags` (line numbers unchanged): flags need a hosting platform.
const hosted = 'hosting:\n  provider: vercel\n  project: p\n'

// Each bad runbook, the single line it must produce (exact position and key path).
const BAD: [string, string, string][] = [
  ['missing version', 'name: demo\n', 'rollback.yml:1:1: version: expected 1'],
  ['wrong version', 'version: 2\nname: demo\n', 'rollback.yml:1:10: version: expected 1'],
  ['missing name', 'version: 1\n', 'rollback.yml:1:1: name: required: expected string'],
  [
    'unknown top-level key with suggestion',
    base + 'flgas:\n  set: {A: "1"}\n',
    'rollback.yml:3:1: flgas: unknown key "flgas": did you mean "flags"?'
  ],
  [
    'unknown nested key',
    base + 'git:\n  branch: main\n  force: true\n',
    'rollback.yml:5:3: git.force: unknown key "force": allowed keys are'
  ],
  [
    'bad duration',
    base + 'monitor:\n  duration: 5 minutes\n',
    'rollback.yml:4:13: monitor.duration: expected a duration such as "500ms", "30s", "5m" or "1h"'
  ],
  [
    'flag value not a string',
    base + 'flags:\n  set:\n    NEXT_PUBLIC_USE_STREAMING: false\n' + hosted,
    'rollback.yml:5:32: flags.set.NEXT_PUBLIC_USE_STREAMING: expected string, got boolean (quote the value, e.g. "false")'
  ],
  [
    'flags without a hosting platform',
    base + 'flags:\n  set:\n    NEXT_PUBLIC_USE_STREAMING: "false"\n',
    'rollback.yml:1:1: hosting: required when `flags` is set: add `hosting: { provider: vercel, project: <id or name> }`'
  ],
  [
    'empty flags',
    base + 'flags:\n  set: {}\n' + hosted,
    'rollback.yml:4:8: flags.set: expected at least one variable'
  ],
  [
    'bad severity key',
    base + 'severity:\n  urgent:\n    phases: [git]\n',
    'rollback.yml:4:3: severity.urgent: unknown key "urgent"'
  ],
  [
    'unknown phase in matrix',
    base + 'severity:\n  low:\n    phases: [monitor, pager]\n',
    'rollback.yml:5:23: severity.low.phases[1]: expected one of "flags"'
  ],
  [
    'token-env holds a value',
    base + 'hosting:\n  provider: vercel\n  project: p\n  token-env: abc123secret\n',
    'rollback.yml:6:14: hosting.token-env: expected an environment variable NAME'
  ],
  [
    'pasted GitHub token',
    base + 'notify:\n  messages:\n    initiated: "ghp_abcdefghijklmnopqrstuvwxyz0123456789"\n',
    'rollback.yml:5:16: notify.messages.initiated: looks like a GitHub token'
  ],
  [
    'URL with a password',
    base +
      'verify:\n  checks:\n    - name: x\n      url: https://admin:hunter22@app.example.com/\n',
    'rollback.yml:6:12: verify.checks[0].url: looks like a URL with a password'
  ],
  [
    'credential set as a flag',
    base + 'flags:\n  set:\n    STRIPE_API_KEY: "x"\n' + hosted,
    'rollback.yml:5:5: flags.set.STRIPE_API_KEY: "STRIPE_API_KEY" looks like a credential'
  ],
  [
    'database step with two kinds',
    base + 'database:\n  steps:\n    - name: x\n      sql: SELECT 1\n      drop-index: idx\n',
    'rollback.yml:5:7: database.steps[0]: expected exactly one of batch-update, drop-index or sql'
  ],
  [
    'data-loss acknowledgment on a step that is not sql',
    base +
      'database:\n  steps:\n    - name: x\n      drop-index: idx\n      acknowledge-data-loss: true\n',
    'rollback.yml:7:30: database.steps[0].acknowledge-data-loss: applies to sql steps only'
  ],
  [
    'bad SQL identifier',
    base + 'schema:\n  - table: "Outline Sessions"\n',
    'rollback.yml:4:12: schema[0].table: expected a lower-case SQL identifier'
  ],
  [
    'integrity without expectation',
    base + 'integrity:\n  - name: x\n    sql: SELECT 1\n    expect: {}\n',
    'rollback.yml:6:13: integrity[0].expect: expected one of rows, max-rows or value'
  ],
  [
    'unknown git strategy',
    base + 'git:\n  strategy: rebase\n',
    'rollback.yml:4:13: git.strategy: expected one of "revert", "reset"'
  ],
  [
    'batch size out of range',
    base +
      'database:\n  steps:\n    - name: x\n      batch-update:\n        table: t\n        set: {a: "1"}\n        where: "true"\n        batch-size: 0\n',
    'rollback.yml:10:21: database.steps[0].batch-update.batch-size: must be at least 1'
  ],
  ['invalid YAML', base + 'flags: [\n', 'rollback.yml:4:1: (top level): invalid YAML'],
  [
    'duplicate key',
    base + 'name: again\n',
    'rollback.yml:3:1: name: duplicate key "name": write each key once per mapping'
  ],
  [
    'duplicate key deep in a list',
    base + 'database:\n  steps:\n    - name: x\n      sql: SELECT 1\n      sql: SELECT 2\n',
    'rollback.yml:7:7: database.steps[0].sql: duplicate key "sql": write each key once per mapping'
  ],
  ['not a mapping', '- a\n- b\n', 'rollback.yml:1:1: (top level): a runbook is a YAML mapping'],
  [
    'branch names as the runbook revert (refused as the revert input is, before any check)',
    base + 'git:\n  revert: main~3..main\n',
    'rollback.yml:4:11: git.revert: "main~3..main" is not a range of two SHAs; write the range as OLD..NEW with two commit SHAs'
  ],
  [
    'a tag as the runbook reset-to',
    base + 'git:\n  strategy: reset\n  reset-to: v1.2.3\n',
    'rollback.yml:5:13: git.reset-to: "v1.2.3" is not a commit SHA; give a commit SHA: 7 to 40 hex characters'
  ],
  [
    'a list as a key (refused before the YAML library warns about it)',
    base + '? [a, b]\n: c\n',
    'rollback.yml:3:3: (top level): a key that is a list, mapping or alias: runbook keys are plain names; write the key as text'
  ],
  [
    'two documents (the fix in our words, not a library call)',
    base + '---\nversion: 1\n',
    'rollback.yml:3:1: (top level): invalid YAML: a second document starts here (---); a runbook is one YAML document: remove the --- line and what follows, or keep it in a file of its own'
  ],
  [
    'a number where text is expected: quoting that value is the fix',
    'version: 1\nname: 5\n',
    'rollback.yml:2:7: name: expected string, got number (quote the value, e.g. "5")'
  ],
  [
    'expect-status not a number',
    base +
      'verify:\n  checks:\n    - name: x\n      url: https://a.example\n      expect-status: ok\n',
    'rollback.yml:7:22: verify.checks[0].expect-status: expected number, got string'
  ],
  [
    'version as a string (one problem, not two)',
    'version: "1"\nname: demo\n',
    'rollback.yml:1:10: version: expected 1'
  ],
  [
    'invalid variable name as a key',
    base + 'flags:\n  set:\n    1BAD: "x"\n' + hosted,
    'rollback.yml:5:5: flags.set.1BAD: invalid key: expected an environment variable name'
  ],
  [
    'fractional number',
    base + 'database:\n  lock-retries: 2.5\n',
    'rollback.yml:4:17: database.lock-retries: expected a whole number'
  ],
  [
    'empty value (null)',
    base + 'description:\n',
    'rollback.yml:3:13: description: expected string, got null'
  ],
  [
    'expected value of the wrong kind',
    base + 'integrity:\n  - name: x\n    sql: SELECT 1\n    expect: {value: [1]}\n',
    'rollback.yml:6:21: integrity[0].expect.value: expected string, number or boolean, got array'
  ],
  [
    'branch with ".."',
    base + 'git:\n  branch: a..b\n',
    'rollback.yml:4:11: git.branch: expected a branch name (letters, digits, . _ / -; no "..", no leading "-" or trailing "/")'
  ],
  [
    'unknown key in a list item',
    base +
      'verify:\n  checks:\n    - name: x\n      url: https://a.example\n      expect-staus: 200\n',
    'rollback.yml:7:7: verify.checks[0].expect-staus: unknown key "expect-staus": did you mean "expect-status"?'
  ]
]

describe('runbook validation', () => {
  it.each(BAD)('rejects %s with a precise one-line error', (_name, yaml, expected) => {
    const problems = problemsOf(yaml)
    expect(problems).toHaveLength(1)
    expect(problems[0]).toContain(expected)
  })

  it('reports every problem at once, in file order', () => {
    const problems = problemsOf(
      'version: 1\nname: x\ngit:\n  strategy: x\nmonitor:\n  interval: soon\n'
    )
    expect(problems.map(p => p.split(':').slice(0, 3).join(':'))).toEqual([
      'rollback.yml:4:13',
      'rollback.yml:6:13'
    ])
  })

  it('accepts the example runbook and fills in defaults', async () => {
    const runbook = await loadRunbook('examples/streaming-migration/rollback.yml')
    expect(runbook.name).toBe('streaming-migration')
    expect(runbook.git?.remote).toBe('origin')
    expect(runbook.flags?.set).toEqual({ NEXT_PUBLIC_USE_STREAMING: 'false' })
    expect(runbook.database?.['lock-retries']).toBe(8)
  })

  it('a YAML alias used in two sections gets each section its own defaults', () => {
    const runbook = parseRunbook(base + 'verify: &empty {}\nmonitor: *empty\n', FILE)
    expect(runbook.verify).toEqual({ checks: [] })
    expect(runbook.monitor?.duration).toBe('5m')
    expect(runbook.monitor).not.toHaveProperty('checks')
  })

  it('refuses __proto__ keys and self-referencing aliases instead of looping or leaking', () => {
    expect(problemsOf(base + 'flags:\n  set:\n    __proto__: "x"\n' + hosted)).toEqual([
      'rollback.yml:5:5: flags.set.__proto__: a key named __proto__ is not allowed'
    ])
    expect(problemsOf(base + 'notify: &n\n  again: *n\n')).toContain(
      'rollback.yml:4:10: notify.again: refers to itself through a YAML alias'
    )
  })

  it('fills in defaults without changing the data it was given', () => {
    const data = {
      version: 1,
      name: 'x',
      hosting: { provider: 'vercel', project: 'p' },
      flags: { set: { A: '1' } }
    }
    const result = validateRunbook(data)
    expect(result.problems).toEqual([])
    expect('runbook' in result && result.runbook.flags).toEqual({
      set: { A: '1' },
      targets: ['production'],
      redeploy: true,
      'wait-timeout': '15m'
    })
    expect(data.flags).toEqual({ set: { A: '1' } })
  })

  it('says where to point when the file is missing', async () => {
    await expect(loadRunbook('/nonexistent/rollback.yml')).rejects.toThrow(
      '/nonexistent/rollback.yml:1:1: (top level): file not found: set the runbook input/--runbook'
    )
  })

  it('keeps the published JSON Schema in step with the zod schema', async () => {
    const { runbookJsonSchema, JSON_SCHEMA_PATH } =
      await import('../scripts/runbook-json-schema.js')
    expect(readFileSync(JSON_SCHEMA_PATH, 'utf8')).toBe(runbookJsonSchema())
  })

  it('keeps the generated validator in step with the published JSON Schema', async () => {
    const { runbookValidatorSource, VALIDATOR_PATH, VALIDATOR_TYPES, VALIDATOR_TYPES_PATH } =
      await import('../scripts/runbook-validator.js')
    const jsonSchema = readFileSync('schema/runbook.schema.json', 'utf8')
    expect(readFileSync(VALIDATOR_PATH, 'utf8')).toBe(runbookValidatorSource(jsonSchema))
    expect(readFileSync(VALIDATOR_TYPES_PATH, 'utf8')).toBe(VALIDATOR_TYPES)
  })
})
