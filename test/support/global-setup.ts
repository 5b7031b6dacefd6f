/**
 * Starts the services every test file shares: one throwaway PostgreSQL for the whole jest run
 * (see test/support/postgres.ts). Its URL reaches the workers as process.env.TEST_DATABASE_URL.
 *
 * Jest loads this file outside its module system (Node resolves its imports natively and cannot
 * load .ts), so postgres.ts is imported through tsx.
 */
import { tsImport } from 'tsx/esm/api'
import type { ThrowawayPostgres } from './postgres.js'

declare global {
  var __ER_POSTGRES__: ThrowawayPostgres | undefined
}

export default async function globalSetup(): Promise<void> {
  if (process.env.TEST_DATABASE_URL) return
  const { startThrowawayPostgres } = (await tsImport(
    './postgres.ts',
    import.meta.url
  )) as typeof import('./postgres.js')
  const server = await startThrowawayPostgres()
  globalThis.__ER_POSTGRES__ = server
  process.env.TEST_DATABASE_URL = server.url
}
