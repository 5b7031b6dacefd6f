/** Time as the HTTP layer sees it: injected so tests control waits, deadlines and jitter. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number
  sleep(ms: number): Promise<void>
  /** 0 <= x < 1: the jitter source. */
  random(): number
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: ms => new Promise(resolve => setTimeout(resolve, ms)),
  random: () => Math.random()
}

/** The fetch the layer calls: the global one, a proxy-aware one (proxy.ts), or a test's fault injector. */
export type FetchLike = (input: string | URL, init: RequestInit) => Promise<Response>
