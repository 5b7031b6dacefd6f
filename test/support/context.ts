/** A RunContext for tests: quiet logger that records lines, instant sleep, real fetch. */
import type { Logger, Request, RunContext } from '../../src/model.js'
import { type Runbook } from '../../src/runbook/schema.js'
import { runbookFrom } from '../../src/runbook/validate.js'

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

export function testContext(over: Partial<RunContext> = {}): RunContext & { log: RecordingLogger } {
  const log = recordingLogger()
  return {
    mode: 'run',
    request: testRequest(),
    runbook: testRunbook(),
    workdir: process.cwd(),
    env: {},
    secrets: {},
    outputs: {},
    fetch: globalThis.fetch,
    sleep: async () => {},
    ...over,
    log
  }
}
