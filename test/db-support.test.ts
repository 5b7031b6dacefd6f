import { describe, expect, it } from '@jest/globals'
import pg from 'pg'
import { createTestDatabase, testDatabaseUrl } from './support/postgres.js'

describe('throwaway PostgreSQL', () => {
  it('reaches the workers and isolates databases', async () => {
    const url = await createTestDatabase(testDatabaseUrl())
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    const res = await client.query<{ db: string }>('SELECT current_database() AS db')
    await client.end()
    expect(url.endsWith(`/${res.rows[0]!.db}`)).toBe(true)
  })
})
