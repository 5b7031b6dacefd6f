/** Stops what global-setup started and removes the run's temporary directory. */
import { rmSync } from 'node:fs'

export default async function globalTeardown(): Promise<void> {
  const server = globalThis.__ER_POSTGRES__
  globalThis.__ER_POSTGRES__ = undefined
  await server?.stop()
  const dir = globalThis.__ER_TMPDIR__
  globalThis.__ER_TMPDIR__ = undefined
  if (dir) rmSync(dir, { recursive: true, force: true })
}
