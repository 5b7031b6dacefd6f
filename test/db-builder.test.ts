/**
 * The statement builder: batch-update `where` and `set` values are parsed alone and must each be
 * exactly one expression; what is accepted becomes an UPDATE whose tree has exactly the declared
 * target columns and the declared condition; what is refused changes nothing in the database.
 * Generated (fast-check) adversarial inputs plus the cases the issue reported.
 */
import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { batchStatements, type BatchUpdateSpec } from '../src/db/batch-update.js'
import { parseSql } from '../src/db/pg-parser.js'
import { flattenBooleans, parseExpression, withoutLocations } from '../src/db/statement-builder.js'
import { databasePhase } from '../src/phases/database.js'
import { RollbackError } from '../src/util/errors.js'
import { testContext, testRequest, testRunbook } from './support/context.js'
import { queryRows, seededDatabase } from './support/postgres.js'

const FIELD = 'database.steps[0].batch-update'

const spec = (where: string, value: string): BatchUpdateSpec => ({
  table: 'outline_sessions',
  key: 'id',
  set: { is_active: value },
  where,
  batchSize: 1000,
  pauseMs: 1,
  maxDurationMs: 60_000
})

/** Pieces that, glued together, make valid expressions and every known way of smuggling SQL. */
const FRAGMENTS = [
  "status = 'error'",
  ') OR (true',
  "false), error_message = ('x'",
  'true',
  'false',
  'is_active',
  ' AND ',
  ' OR ',
  'NOT ',
  '(',
  ')',
  ', ',
  '; DROP TABLE outline_sessions',
  ' -- ',
  '/*',
  '*/',
  "'",
  '"',
  '$$',
  ' FROM outline_sessions',
  ' AS x',
  ' WHERE true',
  ' RETURNING *',
  '*',
  "set_config('lock_timeout', '0', false) IS NOT NULL",
  'pg_advisory_unlock_all() IS NULL',
  'id IN (SELECT id FROM outline_sessions)',
  "updated_at < now() - interval '30 minutes'",
  '1',
  '$1',
  '\n'
]

const ATOMS = [
  "status = 'error'",
  'is_active',
  'true',
  'id > 5',
  "updated_at < now() - interval '30 minutes'",
  'id IN (SELECT id FROM outline_sessions WHERE workflow_id < 3)',
  "coalesce(error_message, '') LIKE '%x%'"
]

/** Well-formed conditions built from the atoms with AND, OR, NOT and parentheses. */
const condition = fc.letrec<{ c: string }>(tie => ({
  c: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(...ATOMS),
    fc
      .tuple(tie('c'), fc.constantFrom(' AND ', ' OR '), tie('c'))
      .map(([a, op, b]) => `${a}${op}${b}`),
    tie('c').map(c => `NOT (${c})`),
    tie('c').map(c => `(${c})`)
  )
})).c

const garbage = fc.array(fc.constantFrom(...FRAGMENTS), { minLength: 1, maxLength: 7 })

/** Valid conditions, valid ones with a hostile piece glued on, fragment soup, random text. */
const expression = fc.oneof(
  { weight: 2, arbitrary: condition },
  {
    weight: 2,
    arbitrary: fc.tuple(condition, garbage).map(([c, g]) => `${c}${g.join('')}`)
  },
  { weight: 3, arbitrary: garbage.map(a => a.join('')) },
  { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 30 }) }
)

type Tree = Record<string, unknown>

/** The UPDATE inside the batch statement (WITH src AS (...), changed AS (UPDATE ...) INSERT ...). */
async function updateOf(sql: string): Promise<Tree> {
  const parsed = (await parseSql(sql)) as { stmts: { stmt: Tree }[] }
  expect(parsed.stmts).toHaveLength(1)
  const insert = parsed.stmts[0]!.stmt.InsertStmt as Tree
  const ctes = ((insert.withClause as Tree).ctes as { CommonTableExpr: Tree }[]).map(
    c => c.CommonTableExpr
  )
  const updates = ctes.filter(c => 'UpdateStmt' in (c.ctequery as Tree))
  expect(updates).toHaveLength(1)
  return (updates[0]!.ctequery as Tree).UpdateStmt as Tree
}

const norm = (t: unknown) => JSON.stringify(flattenBooleans(withoutLocations(t)))

/** Refused with a one-line error naming the field, or built as declared. */
async function checkBuilt(where: string, value: string): Promise<'refused' | 'built'> {
  let statements
  try {
    statements = await batchStatements(spec(where, value), 'rollback_backup.b', FIELD)
  } catch (err) {
    expect(err).toBeInstanceOf(RollbackError)
    expect((err as Error).message).toMatch(
      new RegExp(`^${FIELD.replace(/[[\].]/g, '\\$&')}\\.(where|set\\.is_active)\\b`)
    )
    expect((err as Error).message).not.toContain('\n')
    return 'refused'
  }
  const declaredWhere = await parseExpression(where, 'w')
  const declaredValue = await parseExpression(value, 'v')
  for (const sql of [
    statements.batch.first.bounded,
    statements.batch.first.open,
    statements.batch.next.bounded,
    statements.batch.next.open
  ]) {
    const update = await updateOf(sql)
    const targets = (update.targetList as { ResTarget: { name: string; val: unknown } }[]).map(
      t => t.ResTarget
    )
    expect(targets.map(t => t.name)).toEqual(['is_active'])
    expect(norm(targets[0]!.val)).toBe(norm(declaredValue))
    // WHERE <table>.id = src.__k AND <the declared condition>, nothing else.
    const args = (update.whereClause as Tree).BoolExpr as { boolop: string; args: unknown[] }
    expect(args.boolop).toBe('AND_EXPR')
    const declared = JSON.parse(norm(declaredWhere)) as Tree
    const declaredArgs =
      (declared.BoolExpr as { boolop?: string; args: unknown[] } | undefined)?.boolop === 'AND_EXPR'
        ? (declared.BoolExpr as { args: unknown[] }).args
        : [declared]
    expect(norm(args.args.slice(1))).toBe(JSON.stringify(declaredArgs))
  }
  return 'built'
}

describe('batch-update statement builder', () => {
  it.each([
    [`status = 'error') OR (true`, 'false', /\.where is not a valid SQL expression/],
    [`id > $1`, 'false', /\.where must be exactly one SQL expression \(it uses a \$n parameter\)/],
    [`status = 'error'`, `false), error_message = ('x'`, /\.set\.is_active is not a valid/],
    [
      `status = 'error'`,
      `false, error_message = 'x'`,
      /\.set\.is_active must be exactly one SQL expression \(it is a list of 2\)/
    ],
    [
      `true; DROP TABLE outline_sessions`,
      'false',
      /\.where must be exactly one SQL expression \(it holds 2 statements\)/
    ],
    [
      `true FROM outline_sessions`,
      'false',
      /\.where must be exactly one SQL expression \(it continues with FROM\)/
    ],
    [
      `status = 'error'`,
      'false AS x',
      /\.set\.is_active must be exactly one SQL expression \(it has an alias\)/
    ],
    [
      `set_config('lock_timeout', '0', false) IS NOT NULL`,
      'false',
      /\.where: refusing set_config\(\)/
    ],
    [
      `status = 'error'`,
      `pg_advisory_unlock_all()`,
      /\.set\.is_active: refusing pg_advisory_unlock_all\(\)/
    ]
  ])('refuses where %p / set %p, naming the field', async (where, value, message) => {
    await expect(batchStatements(spec(where, value), 'rollback_backup.b', FIELD)).rejects.toThrow(
      message
    )
  })

  it('refuses writing the key column', async () => {
    await expect(
      batchStatements({ ...spec('true', 'false'), set: { id: '1' } }, 'rollback_backup.b', FIELD)
    ).rejects.toThrow(/set\.id: the key column cannot be written/)
  })

  it('generated where/set strings: refused, or an UPDATE of exactly the declared column and condition', async () => {
    let built = 0
    await fc.assert(
      fc.asyncProperty(expression, expression, async (where, value) => {
        if ((await checkBuilt(where, value)) === 'built') built++
      }),
      { numRuns: 200 }
    )
    await checkBuilt(
      "is_active AND (status = 'error' OR updated_at < now() - interval '1 hour')",
      'NOT is_active'
    )
    // The generator reaches both sides.
    expect(built).toBeGreaterThan(5)
  }, 120_000)

  it('a refused input changes nothing in the database (checksum of every table)', async () => {
    const url = await seededDatabase()
    const checksum = async () =>
      (
        await queryRows<{ c: string }>(
          url,
          `SELECT md5(string_agg(t::text, ',' ORDER BY t.id)) AS c FROM outline_sessions t`
        )
      )[0]!.c
    const schemas = async () =>
      queryRows(url, `SELECT nspname FROM pg_namespace WHERE nspname = 'rollback_backup'`)
    const before = await checksum()
    let runs = 0
    await fc.assert(
      fc.asyncProperty(expression, expression, async (where, value) => {
        const refused = await batchStatements(spec(where, value), 'rollback_backup.b', FIELD).then(
          () => false,
          () => true
        )
        fc.pre(refused)
        runs++
        const runbook = testRunbook({
          database: {
            steps: [
              {
                name: 'reset',
                'batch-update': { table: 'outline_sessions', set: { is_active: value }, where }
              }
            ]
          }
        })
        const ctx = testContext({
          runbook,
          request: testRequest({ runId: `refused-${runs}` }),
          env: { DATABASE_URL: url }
        })
        const [step] = databasePhase.plan(runbook, ctx.request)
        await expect(databasePhase.preflight!([step!], ctx)).rejects.toThrow(RollbackError)
        const result = await databasePhase.run(step!, ctx)
        expect(result.status).toBe('failed')
        expect(result.error!.message).toMatch(
          /^database\.steps\[0\]\.batch-update\.(where|set\.is_active)/
        )
        expect(await checksum()).toBe(before)
        expect(await schemas()).toEqual([])
      }),
      { numRuns: 12 }
    )
    expect(runs).toBe(12)
  }, 180_000)
})
