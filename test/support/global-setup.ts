/**
 * Starts the services every test file shares: one throwaway PostgreSQL for the whole jest run
 * (see test/support/postgres.ts). Its URL reaches the workers as process.env.TEST_DATABASE_URL.
 * Also gives the run a temporary directory of its own (TMPDIR for the workers), which
 * global-teardown removes: the tests' repositories, homes and action runs leave nothing behind.
 *
 * Jest loads this file outside its module system (Node resolves its imports natively and cannot
 * load .ts), so postgres.ts is imported through tsx.
 */
import { chmodSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { tsImport } from 'tsx/esm/api'
import type { ThrowawayPostgres } from './postgres.js'

declare global {
  var __ER_POSTGRES__: ThrowawayPostgres | undefined
  var __ER_TMPDIR__: string | undefined
}

export default async function globalSetup(): Promise<void> {
  if (!process.env.TEST_DATABASE_URL) {
    const { startThrowawayPostgres } = (await tsImport(
      './postgres.ts',
      import.meta.url
    )) as typeof import('./postgres.js')
    const server = await startThrowawayPostgres()
    globalThis.__ER_POSTGRES__ = server
    process.env.TEST_DATABASE_URL = server.url
  }
  const dir = mkdtempSync(join(tmpdir(), 'er-tests-'))
  // Readable by the unprivileged user that runs PostgreSQL when the tests run as root.
  chmodSync(dir, 0o755)
  globalThis.__ER_TMPDIR__ = dir
  process.env.TMPDIR = dir
}
