/**
 * verify phase: HTTP checks polled until the page shows the expected state (e.g. "polling mode"),
 * bounded by each check's timeout, with the last status and a body snippet as the reason when it
 * never does; plus an optional smoke command that must exit 0 within its timeout.
 * Everything here is read-only; in a drill each check is probed once (production was not rolled
 * back, so a mismatch is expected and only warned about) and the smoke command is not run.
 */
import { spawn } from 'node:child_process'
import type { Dependencies } from '../dependencies.js'
import type { PhaseModule, Step, StepResult } from '../model.js'
import type { HttpCheck } from '../runbook/schema.js'
import { elapsedMs, formatDuration, parseDuration } from '../util/duration.js'
import type { Redactor } from '../util/redact.js'
import { childEnv } from '../util/child-env.js'
import { checkUrl, HttpTransportError } from '../http/index.js'

/** Body bytes a check reads: enough for any status page, bounded for any answer. */
const CHECK_BODY_BYTES = 1024 * 1024

export type VerifyAction = { kind: 'http'; check: HttpCheck } | ({ kind: 'smoke' } & SmokeCommand)

/** The smoke command; `env`: variables of the run's environment it is given (see child-env.ts). */
export interface SmokeCommand {
  run: string
  timeoutMs: number
  env: string[]
}

export interface ProbeResult {
  ok: boolean
  status?: number
  /** Why it is not ok ("" when ok). */
  reason: string
  /** Start of the body, tags stripped, secrets masked. */
  snippet: string
  ms: number
}

function snippetOf(body: string, redactor: Redactor): string {
  const text = body
    .replace(/<script[\s\S]*?<\/script>/gi, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
  return redactor.redact(text.length > 160 ? `${text.slice(0, 160)}…` : text)
}

export type ProbeDeps = Pick<Dependencies, 'fetch' | 'redactor'>

/** One GET of a check: status, expected text, rejected text. Never throws. */
export async function probe(check: HttpCheck, deps: ProbeDeps): Promise<ProbeResult> {
  const started = Date.now()
  const redactor = deps.redactor
  try {
    // Bounded: a check only looks for its text near the top of a page.
    const response = await checkUrl(check.url, {
      headers: { 'user-agent': 'emergency-rollback-verify', 'cache-control': 'no-cache' },
      timeoutMs: Math.min(30_000, parseDuration(check.timeout)),
      maxBytes: CHECK_BODY_BYTES,
      fetch: deps.fetch
    })
    const body = response.text
    const snippet = snippetOf(body, redactor)
    const ms = Date.now() - started
    const expected = check['expect-status']
    let reason = ''
    if (response.status !== expected) reason = `HTTP ${response.status} (expected ${expected})`
    else if (check['expect-text'] !== undefined && !body.includes(check['expect-text']))
      reason = `body does not contain "${check['expect-text']}"`
    else if (check['reject-text'] !== undefined && body.includes(check['reject-text']))
      reason = `body contains "${check['reject-text']}"`
    return { ok: reason === '', status: response.status, reason, snippet, ms }
  } catch (err) {
    const message =
      err instanceof HttpTransportError
        ? (err.reason ?? err.message)
        : err instanceof Error
          ? err.message
          : String(err)
    return {
      ok: false,
      reason: redactor.redact(`request failed: ${message}`),
      snippet: '',
      ms: Date.now() - started
    }
  }
}

function slug(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 40)
}

async function pollCheck(check: HttpCheck, deps: VerifyDeps): Promise<StepResult> {
  const timeoutMs = parseDuration(check.timeout)
  const intervalMs = parseDuration(check.interval)
  const started = Date.now()
  let slept = 0
  let attempts = 0
  for (;;) {
    attempts++
    const result = await probe(check, deps)
    const elapsed = elapsedMs(started, slept, Date.now())
    if (result.ok)
      return {
        status: 'succeeded',
        changed: [],
        details: { url: check.url, status: result.status, attempts, elapsedMs: elapsed }
      }
    deps.log.info(`verify: ${check.name}: ${result.reason} (attempt ${attempts})`)
    if (elapsed >= timeoutMs) {
      const last = result.status !== undefined ? `HTTP ${result.status}` : 'no response'
      return {
        status: 'failed',
        changed: [],
        details: { url: check.url, attempts, lastStatus: result.status, snippet: result.snippet },
        error: {
          message: `${check.name}: not as expected after ${formatDuration(timeoutMs)} (${attempts} attempts): ${result.reason}; last response ${last}${result.snippet ? `: "${result.snippet}"` : ''}`,
          hint:
            check['expect-text'] !== undefined
              ? 'If the redeploy is live but the page still shows the old state, the build may have reused cached NEXT_PUBLIC_* values: set VERCEL_FORCE_NO_BUILD_CACHE=1 on the project, rerun; or raise the check timeout if the CDN lags.'
              : 'Open the URL yourself; raise the check timeout if the service needs longer to come back.'
        }
      }
    }
    const wait = Math.min(intervalMs, timeoutMs - elapsed)
    await deps.clock.sleep(wait)
    slept += wait
  }
}

async function runSmoke(action: SmokeCommand, deps: VerifyDeps): Promise<StepResult> {
  const redactor = deps.redactor
  const started = Date.now()
  let output = ''
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-4000)
  }
  const outcome = await new Promise<{
    code: number | null
    signal: string | null
    timedOut: boolean
    error?: string
  }>(resolve => {
    const child = spawn(action.run, {
      shell: true,
      cwd: deps.checkout.workdir,
      env: childEnv(deps.checkout.env, { pass: action.env }),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let timedOut = false
    const kill = (signal: NodeJS.Signals) => {
      try {
        if (child.pid) process.kill(-child.pid, signal)
      } catch {
        // already gone
      }
    }
    const timer = setTimeout(() => {
      timedOut = true
      kill('SIGTERM')
      setTimeout(() => kill('SIGKILL'), 5000).unref()
    }, action.timeoutMs)
    child.stdout.on('data', keep)
    child.stderr.on('data', keep)
    child.on('error', err => {
      clearTimeout(timer)
      resolve({ code: null, signal: null, timedOut, error: err.message })
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, timedOut })
    })
  })
  const durationMs = Date.now() - started
  const tail = redactor.redact(output.trim().split('\n').slice(-20).join('\n'))
  const details = {
    command: redactor.redact(action.run),
    exitCode: outcome.code,
    durationMs,
    outputTail: tail
  }
  if (outcome.code === 0 && !outcome.timedOut) return { status: 'succeeded', changed: [], details }
  const why = outcome.timedOut
    ? `timed out after ${formatDuration(action.timeoutMs)} and was stopped`
    : outcome.error
      ? `could not start: ${outcome.error}`
      : `exited with ${outcome.code ?? outcome.signal}`
  return {
    status: 'failed',
    changed: [],
    details,
    error: {
      message: `smoke command ${why}${tail ? `; last output: ${tail.split('\n').slice(-3).join(' | ')}` : ''}`,
      hint: 'Run the smoke command yourself against production to see the full output.'
    }
  }
}

type VerifyDeps = Pick<Dependencies, 'fetch' | 'redactor' | 'log' | 'clock' | 'checkout'>

export const verifyPhase: PhaseModule<VerifyAction, keyof VerifyDeps> = {
  phase: 'verify',
  needs: ['fetch', 'redactor', 'log', 'clock', 'checkout'],
  plan(runbook) {
    const verify = runbook.verify
    if (verify === undefined) return []
    const used = new Set<string>()
    const steps: Step<VerifyAction>[] = verify.checks.map((check, index) => {
      let id = `verify:${slug(check.name) || index + 1}`
      if (used.has(id)) id = `${id}-${index + 1}`
      used.add(id)
      const expectations = [
        `HTTP ${check['expect-status']}`,
        check['expect-text'] !== undefined ? `contains "${check['expect-text']}"` : undefined,
        check['reject-text'] !== undefined
          ? `does not contain "${check['reject-text']}"`
          : undefined
      ].filter(Boolean)
      return {
        id,
        phase: 'verify' as const,
        title: `Check ${check.name}: ${check.url} (${expectations.join(', ')}) within ${check.timeout}`,
        changes: [],
        mutates: false,
        stage: 'main' as const,
        action: { kind: 'http' as const, check }
      }
    })
    if (verify.smoke)
      steps.push({
        id: 'verify:smoke',
        phase: 'verify',
        title: `Smoke test \`${verify.smoke.run}\` exits 0 within ${verify.smoke.timeout}`,
        changes: [],
        mutates: false,
        stage: 'main',
        action: {
          kind: 'smoke',
          run: verify.smoke.run,
          timeoutMs: parseDuration(verify.smoke.timeout),
          env: verify.smoke.env
        }
      })
    return steps
  },

  run(step, deps) {
    return step.action.kind === 'http'
      ? pollCheck(step.action.check, deps)
      : runSmoke(step.action, deps)
  },

  async drill(step, deps): Promise<StepResult> {
    if (step.action.kind === 'smoke')
      return {
        status: 'skipped',
        changed: [],
        details: { reason: 'the smoke command is not run in a drill', command: step.action.run }
      }
    const check = step.action.check
    const result = await probe(check, deps)
    const details = {
      url: check.url,
      status: result.status,
      now: result.reason || 'as expected',
      snippet: result.snippet
    }
    if (result.ok) return { status: 'succeeded', changed: [], details }
    if (result.status === undefined)
      return {
        status: 'failed',
        changed: [],
        details,
        error: {
          message: `${check.name}: ${result.reason}`,
          hint: 'The check URL must be reachable from the runner.'
        }
      }
    return {
      status: 'warned',
      changed: [],
      details,
      error: {
        message: `${check.name}: reachable, currently ${result.reason} (expected before a real rollback)`
      }
    }
  }
}
