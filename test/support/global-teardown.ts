/** Stops what global-setup started. */
export default async function globalTeardown(): Promise<void> {
  const server = globalThis.__ER_POSTGRES__
  globalThis.__ER_POSTGRES__ = undefined
  await server?.stop()
}
