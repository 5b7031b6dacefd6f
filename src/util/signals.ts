/**
 * Cancellation for the entry points: SIGTERM/SIGINT become an AbortSignal the engine obeys.
 * A cancelled job gets SIGINT, then SIGTERM, then SIGKILL: the first aborts the run, which stops
 * after the current step (never inside a push or a batch), skips the rest, sends the closing
 * notice, writes the report and releases the lock.
 */
export function abortOnSignals(log: (message: string) => void): {
  signal: AbortSignal
  dispose(): void
} {
  const controller = new AbortController()
  const onSignal = (name: NodeJS.Signals) => {
    if (!controller.signal.aborted) controller.abort(`cancelled by ${name}`)
    log(
      `${name}: stopping after the current step (the closing notice, report and lock release follow)`
    )
  }
  const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT']
  for (const name of signals) process.on(name, onSignal)
  return {
    signal: controller.signal,
    dispose: () => signals.forEach(name => process.off(name, onSignal))
  }
}
