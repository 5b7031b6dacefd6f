import { describe, expect, it, jest } from '@jest/globals'
import { preloadSqlParser } from '../src/db/pg-parser.js'
import { classifySql, describeStatement } from '../src/db/sql-classifier.js'

describe('classifySql (libpg-query)', () => {
  // First in this file, so the parser is still unloaded: the warm-up compiles it in the
  // background and the first parse instantiates what it compiled.
  it('parses with the parser a warm-up started compiling (compiled once, however often)', async () => {
    // The ES2023 lib has no WebAssembly types; only `compile` is watched.
    const wasm = (
      globalThis as unknown as { WebAssembly: { compile(b: Uint8Array): Promise<object> } }
    ).WebAssembly
    const compile = jest.spyOn(wasm, 'compile')
    try {
      preloadSqlParser()
      expect(compile).toHaveBeenCalledTimes(1)
      preloadSqlParser()
      const [select] = await classifySql('SELECT count(*) FROM t WHERE a = 1')
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

  it('reports a syntax error with where it is', async () => {
    await expect(classifySql('UPDATE t SET WHERE')).rejects.toThrow(/SQL does not parse: .*near/)
  })
})
