import { describe, expect, it, jest } from '@jest/globals'
import fc from 'fast-check'
import { classifySql, describeStatement } from '../src/db/sql-classifier.js'

describe('classifySql (libpg-query)', () => {
  // First in this file, so the parser is still unloaded.
  it('compiles the parser once, however often and however concurrently it parses', async () => {
    // The ES2023 lib has no WebAssembly types; only `compile` is watched.
    const wasm = (
      globalThis as unknown as { WebAssembly: { compile(b: Uint8Array): Promise<object> } }
    ).WebAssembly
    const compile = jest.spyOn(wasm, 'compile')
    try {
      const [[select]] = await Promise.all([
        classifySql('SELECT count(*) FROM t WHERE a = 1'),
        classifySql('SELECT 1')
      ])
      expect(select).toMatchObject({ label: 'SELECT', readOnly: true, lock: 'ACCESS SHARE' })
      await classifySql('SELECT 2')
      expect(compile).toHaveBeenCalledTimes(1)
    } finally {
      compile.mockRestore()
    }
  })

  it('splits safely (dollar quotes, comments) and keeps each statement text', async () => {
    const stmts = await classifySql(
      `-- reset\nSELECT $$a;b$$ AS x;\nDROP INDEX CONCURRENTLY IF EXISTS uniq_a; /* c; */ SELECT 1`
    )
    expect(stmts.map(s => s.sql)).toEqual([
      'SELECT $$a;b$$ AS x',
      'DROP INDEX CONCURRENTLY IF EXISTS uniq_a',
      'SELECT 1'
    ])
  })

  it('classifies concurrent DDL, column drops and DML', async () => {
    const [drop, alter, update, create] = await classifySql(
      `DROP INDEX CONCURRENTLY IF EXISTS i;
       ALTER TABLE t DROP COLUMN IF EXISTS a, DROP COLUMN IF EXISTS b;
       UPDATE t SET x = 1 WHERE id < 10;
       CREATE INDEX CONCURRENTLY IF NOT EXISTS j ON t (x)`
    )
    expect(drop).toMatchObject({
      label: 'DROP INDEX CONCURRENTLY',
      lock: 'SHARE UPDATE EXCLUSIVE',
      transactional: false,
      needsLadder: true,
      targets: ['i']
    })
    expect(alter).toMatchObject({
      lock: 'ACCESS EXCLUSIVE',
      transactional: true,
      droppedColumns: ['a', 'b']
    })
    expect(update).toMatchObject({ lock: 'ROW EXCLUSIVE' })
    expect(update!.rejected).toBeUndefined()
    expect(create).toMatchObject({ transactional: false, lock: 'SHARE UPDATE EXCLUSIVE' })
    expect(describeStatement(drop!)).toMatch(/outside any transaction, lock_timeout ladder/)
  })

  it('names the table a statement locks and marks the statements that wait for every transaction', async () => {
    const [trigger, rule, policy, dropIndex, build, rebuild, alter, update] = await classifySql(
      `DROP TRIGGER IF EXISTS audit ON app."Sessions";
       DROP RULE IF EXISTS r ON t;
       DROP POLICY IF EXISTS p ON s.t;
       DROP INDEX CONCURRENTLY IF EXISTS i;
       CREATE INDEX CONCURRENTLY IF NOT EXISTS j ON t (x);
       REINDEX INDEX CONCURRENTLY i;
       ALTER TABLE t ADD COLUMN c int;
       UPDATE t SET x = 1 WHERE id < 10`
    )
    expect(trigger).toMatchObject({
      lock: 'SHARE ROW EXCLUSIVE',
      targets: ['app.Sessions.audit'],
      lockedRelations: ['app.Sessions']
    })
    expect(rule!.lockedRelations).toEqual(['t'])
    expect(policy!.lockedRelations).toEqual(['s.t'])
    for (const s of [dropIndex, build, rebuild]) expect(s!.waitsForEveryTransaction).toBe(true)
    for (const s of [build, rebuild]) expect(s!.waitsForOlderSnapshots).toBe(true)
    expect(dropIndex!.waitsForOlderSnapshots).toBeUndefined()
    for (const s of [trigger, alter, update]) {
      expect(s!.waitsForEveryTransaction).toBeUndefined()
      if (s !== trigger) expect(s!.lockedRelations).toBeUndefined()
    }
  })

  it.each([
    ['BEGIN', /transaction control/],
    ['COMMIT', /transaction control/],
    ['DROP INDEX CONCURRENTLY a, b', /exactly one index/],
    ['DROP INDEX IF EXISTS a', /CONCURRENTLY/],
    ['UPDATE t SET a = 1', /without WHERE/],
    ['DELETE FROM t', /without WHERE/],
    ["SET lock_timeout = '10s'", /lock-timeout/],
    ['CREATE INDEX i ON t (a)', /CONCURRENTLY/],
    ['VACUUM FULL t', /rewrites/],
    ['LOCK TABLE t', /LOCK TABLE/],
    ['DO $$ BEGIN END $$', /cannot classify/],
    ['ALTER TABLE t ALTER COLUMN a TYPE bigint', /rewrite/]
  ])('rejects %s', async (sql, reason) => {
    const [stmt] = await classifySql(sql)
    expect(stmt!.rejected).toMatch(reason)
  })

  // SET by another name, and the rest of the class: session, role, transaction or server state
  // changed behind the engine's back, wherever it hides in the statement.
  it.each([
    ["SELECT set_config('lock_timeout', '0', false)", /set_config\(\)/],
    ["SELECT pg_catalog.set_config('statement_timeout', '0', true)", /set_config\(\)/],
    ["UPDATE t SET a = 1 WHERE set_config('lock_timeout', '0', false) IS NOT NULL", /set_config/],
    ["WITH x AS (SELECT set_config('role', 'admin', false)) SELECT * FROM x", /set_config/],
    ["UPDATE pg_settings SET setting = '0' WHERE name = 'lock_timeout'", /pg_settings/],
    ['RESET lock_timeout', /lock-timeout/],
    ['SET ROLE admin', /lock-timeout|SET/],
    ['SET SESSION AUTHORIZATION admin', /SET/],
    ['SET TRANSACTION ISOLATION LEVEL SERIALIZABLE', /SET/],
    ['DISCARD ALL', /DISCARD/],
    ['SELECT pg_advisory_unlock_all()', /advisory lock/],
    ['SELECT pg_try_advisory_lock(1)', /advisory locks/],
    ['SELECT pg_terminate_backend(pid) FROM pg_stat_activity', /ends sessions/],
    ["ALTER SYSTEM SET lock_timeout = '0'", /server configuration/],
    ["ALTER ROLE app SET statement_timeout = '0'", /future sessions/],
    ["ALTER DATABASE app SET lock_timeout = '0'", /future sessions/],
    ["SELECT query_to_xml('SELECT set_config(''a'', ''b'', false)', true, true, '')", /SQL string/],
    ['PREPARE p AS SELECT 1', /PREPARE/],
    ['DECLARE c CURSOR FOR SELECT 1', /cursors/],
    ["LOAD 'auto_explain'", /LOAD/]
  ])('refuses session-state change %s', async (sql, reason) => {
    const [stmt] = await classifySql(sql)
    expect(stmt!.rejected).toMatch(reason)
  })

  it('refuses a session-state call wherever a statement hides it (generated)', async () => {
    const calls = [
      "set_config('lock_timeout', '0', false)",
      "pg_catalog.set_config('statement_timeout', '0', true)",
      'pg_advisory_unlock_all()',
      'pg_advisory_unlock(42)',
      'pg_terminate_backend(pg_backend_pid())',
      "dblink_exec('x', 'SET lock_timeout = 0')",
      "query_to_xml('SELECT 1', true, true, '')"
    ]
    const places = [
      (c: string) => `SELECT ${c}`,
      (c: string) => `SELECT 1 WHERE ${c} IS NOT NULL`,
      (c: string) => `UPDATE t SET a = (${c})::text WHERE id = 1`,
      (c: string) => `UPDATE t SET a = 1 WHERE id IN (SELECT 1 WHERE ${c} IS NULL)`,
      (c: string) => `DELETE FROM t WHERE coalesce(${c}::text, '') = 'x'`,
      (c: string) => `INSERT INTO t (a) SELECT ${c}`,
      (c: string) => `WITH x AS (SELECT ${c} AS v) SELECT v FROM x`,
      (c: string) => `CREATE TABLE u AS SELECT ${c} AS v`,
      (c: string) => `SELECT CASE WHEN true THEN ${c} END`
    ]
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...calls),
        fc.constantFrom(...places),
        async (call, place) => {
          const [stmt] = await classifySql(place(call))
          expect(stmt!.rejected).toMatch(/^[a-z_]+\(\): /)
        }
      ),
      { numRuns: 60 }
    )
  })

  it.each([
    ['TRUNCATE t', /TRUNCATE t removes every row without a backup/],
    ['DROP TABLE IF EXISTS t', /DROP TABLE t destroys data/],
    ['DROP SCHEMA IF EXISTS s CASCADE', /DROP SCHEMA s CASCADE destroys data/],
    ['ALTER TABLE t DROP COLUMN IF EXISTS a', /DROP COLUMN a of t destroys the column data/]
  ])('marks %s as destroying data without a backup', async (sql, reason) => {
    const [stmt] = await classifySql(sql)
    expect(stmt!.destroysData).toMatch(reason)
    expect(stmt!.rejected).toBeUndefined()
  })

  it('reads settings and runs plain DML without marking them', async () => {
    const stmts = await classifySql(
      `SELECT current_setting('lock_timeout'); SHOW lock_timeout; UPDATE t SET a = 1 WHERE b; DROP INDEX CONCURRENTLY IF EXISTS i`
    )
    expect(stmts.map(s => [s.rejected, s.destroysData])).toEqual([
      [undefined, undefined],
      [undefined, undefined],
      [undefined, undefined],
      [undefined, undefined]
    ])
  })

  it('reports a syntax error with where it is', async () => {
    await expect(classifySql('UPDATE t SET WHERE')).rejects.toThrow(/SQL does not parse: .*near/)
  })
})
