import fc from 'fast-check'
import {
  initialState,
  limitsFor,
  nextState,
  type BatchSignals,
  type BatcherLimits,
  type BatcherState
} from '../src/db/adaptive-batcher.js'

const limits: BatcherLimits = {
  minSize: 50,
  maxSize: 10_000,
  targetMs: 150,
  minPauseMs: 10,
  maxPauseMs: 2000
}

const signalsArb = fc.record({
  batchMs: fc.integer({ min: 0, max: 5000 }),
  lockWaiters: fc.integer({ min: 0, max: 5 }),
  probeMs: fc.integer({ min: 0, max: 500 })
})

/** Runs the controller over a sequence of signals, returning every state it went through. */
function drive(signals: BatchSignals[], start = initialState(limits)): BatcherState[] {
  const states = [start]
  for (const s of signals) states.push(nextState(states[states.length - 1]!, s, limits))
  return states
}

describe('adaptive batcher (pure control logic)', () => {
  it('keeps the batch size and pause within their bounds whatever the signals', () => {
    fc.assert(
      fc.property(fc.array(signalsArb, { maxLength: 60 }), signals => {
        for (const s of drive(signals)) {
          expect(s.size).toBeGreaterThanOrEqual(limits.minSize)
          expect(s.size).toBeLessThanOrEqual(limits.maxSize)
          expect(Number.isInteger(s.size)).toBe(true)
          expect(s.pauseMs).toBeGreaterThanOrEqual(limits.minPauseMs)
          expect(s.pauseMs).toBeLessThanOrEqual(limits.maxPauseMs)
        }
      })
    )
  })

  it('never grows the batch or shortens the pause while another backend waits for a lock', () => {
    fc.assert(
      fc.property(
        fc.array(signalsArb, { maxLength: 20 }),
        fc.array(
          fc.record({
            batchMs: fc.integer({ min: 0, max: 5000 }),
            lockWaiters: fc.integer({ min: 1, max: 5 }),
            probeMs: fc.integer({ min: 0, max: 500 })
          }),
          { minLength: 1, maxLength: 20 }
        ),
        (warmup, bad) => {
          const before = drive(warmup).pop()!
          const states = drive(bad, before)
          for (let i = 1; i < states.length; i++) {
            expect(states[i]!.size).toBeLessThanOrEqual(states[i - 1]!.size)
            expect(states[i]!.pauseMs).toBeGreaterThanOrEqual(states[i - 1]!.pauseMs)
            expect(states[i]!.backedOff).toMatch(/waiting for a lock/)
          }
        }
      )
    )
  })

  it('backs off when the probe slows down against the quietest probe seen, and when a batch runs long', () => {
    let s = initialState(limits, 2000)
    s = nextState(s, { batchMs: 150, lockWaiters: 0, probeMs: 1 }, limits)
    expect(s.backedOff).toBe('')
    const slow = nextState(s, { batchMs: 150, lockWaiters: 0, probeMs: 40 }, limits)
    expect(slow.backedOff).toMatch(/slowly/)
    expect(slow.size).toBe(Math.floor(s.size / 2))
    const long = nextState(s, { batchMs: 900, lockWaiters: 0, probeMs: 1 }, limits)
    expect(long.backedOff).toMatch(/long/)
    expect(long.pauseMs).toBeGreaterThanOrEqual(1800)
  })

  it('converges to the target batch duration on a steady system, from any start', () => {
    fc.assert(
      fc.property(
        // Cost per row of a steady system, such that the target size is within bounds.
        fc.double({ min: 150 / 9000, max: 150 / 60, noNaN: true }),
        fc.integer({ min: limits.minSize, max: limits.maxSize }),
        fc.double({ min: 0.5, max: 3, noNaN: true }),
        (msPerRow, startSize, probeMs) => {
          let s = initialState(limits, startSize)
          for (let i = 0; i < 40; i++) {
            s = nextState(s, { batchMs: s.size * msPerRow, lockWaiters: 0, probeMs }, limits)
          }
          const batchMs = s.size * msPerRow
          expect(Math.abs(batchMs - limits.targetMs)).toBeLessThanOrEqual(
            Math.max(msPerRow, limits.targetMs * 0.02)
          )
          // Quiet: the pause settles at its floor (half the batch's time, or the minimum).
          expect(s.pauseMs).toBeLessThanOrEqual(Math.max(limits.minPauseMs, batchMs / 2) + 1)
        }
      )
    )
  })

  it('recovers after the pain stops: the size climbs back to the ceiling on a fast system', () => {
    let s = initialState(limits)
    for (let i = 0; i < 5; i++)
      s = nextState(s, { batchMs: 50, lockWaiters: 2, probeMs: 1 }, limits)
    expect(s.size).toBeLessThan(limits.maxSize / 8)
    for (let i = 0; i < 20; i++)
      s = nextState(s, { batchMs: 1, lockWaiters: 0, probeMs: 1 }, limits)
    expect(s.size).toBe(limits.maxSize)
    expect(s.pauseMs).toBe(limits.minPauseMs)
  })

  it('judges a probe against the typical probe, not the luckiest one: scheduler noise is no pain, a jump is', () => {
    let s = initialState(limits, 2000)
    const reasons: string[] = []
    // A busy machine: every other round trip waits for a core.
    for (let i = 0; i < 40; i++) {
      s = nextState(s, { batchMs: 150, lockWaiters: 0, probeMs: i % 2 ? 14 : 2 }, limits)
      if (i >= 2) reasons.push(s.backedOff)
    }
    expect(reasons.filter(Boolean)).toEqual([])
    const jump = nextState(s, { batchMs: 150, lockWaiters: 0, probeMs: 100 }, limits)
    expect(jump.backedOff).toMatch(/slowly/)
    expect(jump.size).toBe(Math.floor(s.size / 2))
  })

  it('lets the pause fall back to the runbook pause while quiet, however long the batches take', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: limits.targetMs * 2 }),
        fc.integer({ min: 1, max: 8 }),
        (batchMs, painful) => {
          let s = initialState(limits)
          for (let i = 0; i < painful; i++)
            s = nextState(s, { batchMs, lockWaiters: 1, probeMs: 1 }, limits)
          expect(s.pauseMs).toBeGreaterThan(limits.minPauseMs)
          // Quiet: halved each batch, down to the floor (the pause is no tax on every batch).
          const steps = Math.ceil(Math.log2(limits.maxPauseMs / limits.minPauseMs))
          for (let i = 0; i < steps; i++) {
            const next = nextState(s, { batchMs, lockWaiters: 0, probeMs: 1 }, limits)
            expect(next.pauseMs).toBe(Math.max(limits.minPauseMs, s.pauseMs / 2))
            s = next
          }
          expect(s.pauseMs).toBe(limits.minPauseMs)
        }
      )
    )
  })

  it('takes its ceiling from the runbook batch-size and its shortest pause from the runbook pause', () => {
    expect(limitsFor(5000, 10)).toMatchObject({ maxSize: 5000, minSize: 250, minPauseMs: 10 })
    expect(limitsFor(1, 0)).toMatchObject({ maxSize: 1, minSize: 1 })
  })
})
