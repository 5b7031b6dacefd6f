/**
 * Runs an entry point's main and fails the process if it ends before main settled. The bundles
 * are CommonJS, where a promise that never settles lets the process end quietly with exit code 0.
 */
export async function untilFinished<T>(
  main: () => Promise<T>,
  onUnfinished: () => void
): Promise<T> {
  let finished = false
  process.on('exit', () => {
    if (finished) return
    process.exitCode = 1
    onUnfinished()
  })
  try {
    return await main()
  } finally {
    finished = true
  }
}
