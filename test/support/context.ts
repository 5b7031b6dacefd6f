/**
 * Dependencies for tests, built by the same `buildDependencies` the run uses: quiet logger that
 * records lines, instant sleep, real fetch. The extra fields (`request`, `runbook`, `outputs`,
 * `summary`) stand in for the engine: tests set outputs and the summary a phase will read.
 */
import {
  buildDependencies,
  type Dependencies,
  type DependencyOptions
} from '../../src/dependencies.js'
import type { Logger, Request, StepOutputs } from '../../src/model.js'
import type { PhaseName, Runbook } from '../../src/runbook/schema.js'
import { runbookFrom } from '../../src/runbook/validate.js'
import { openGate } from '../../src/util/mutation-gate.js'

export interface RecordingLogger extends Logger {
  lines: string[]
}

export function recordingLogger(): RecordingLogger {
  const lines: string[] = []
  const push = (level: string) => (message: string) => {
    lines.push(`${level}: ${message}`)
  }
  return {
    lines,
    info: push('info'),
    warn: push('warn'),
    error: push('error'),
    debug: push('debug')
  }
}

export function testRequest(over: Partial<Request> = {}): Request {
  return {
    command: 'run',
    severity: 'critical',
    trigger: { kind: 'cli' },
    runId: `test-${Date.now()}`,
    ...over
  }
}

export function testRunbook(input: Record<string, unknown> = {}): Runbook {
  return runbookFrom({ version: 1, name: 'test', ...input })
}

export interface TestContext extends Dependencies {
  log: RecordingLogger
  request: Request
  runbook: Runbook
  /** What earlier steps output; `status: 'failed'` marks the run as failed for closing notices. */
  outputs: Partial<StepOutputs> & { status?: string }
  summary?: () => string
  plannedPhases: PhaseName[]
}

export type TestContextOptions = Partial<Omit<DependencyOptions, 'log'>> & {
  plannedPhases?: PhaseName[]
  summary?: () => string
}

export function testContext(over: TestContextOptions = {}): TestContext {
  const log = recordingLogger()
  const request = over.request ?? testRequest()
  const runbook = over.runbook ?? testRunbook()
  const ctx = {} as TestContext
  const deps = buildDependencies({
    mode: 'run',
    workdir: process.cwd(),
    env: {},
    secrets: {},
    sleep: async () => {},
    // Phases called directly stand in for a run step, which the engine has let through its gate.
    gate: openGate(),
    ...over,
    request,
    runbook,
    log,
    progress: {
      get plannedPhases() {
        return ctx.plannedPhases
      },
      get outputs() {
        return ctx.outputs
      },
      get failed() {
        return ctx.outputs.status === 'failed'
      },
      summary: () => ctx.summary?.() ?? ''
    }
  })
  return Object.assign(ctx, deps, {
    log,
    request,
    runbook,
    outputs: {},
    summary: over.summary,
    plannedPhases: over.plannedPhases ?? []
  })
}
