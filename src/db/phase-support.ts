/** Small helpers shared by the database, schema and integrity phases. */
import type { Logger } from '../util/logger.js'
import { RollbackError } from '../util/errors.js'
import { maskUrl } from '../util/redact.js'
import type pg from 'pg'
import { connect, sqlError, type DbSettings } from './connection.js'
import { ladderTimeouts, LockLadderExhausted, type LadderOptions } from './lock-ladder.js'

export function ladderOptions(
  sleep: (ms: number) => Promise<void>,
  log: Logger,
  settings: DbSettings
): LadderOptions {
  return {
    lockTimeoutMs: settings.lockTimeoutMs,
    retries: settings.lockRetries,
    sleep,
    log: message => log.info(message)
  }
}

/** What a failed database step reports (the engine's StepResult has this shape). */
export interface FailedStep {
  status: 'failed'
  changed: string[]
  recovery?: string[]
  details: Record<string, unknown>
  error: { message: string; hint?: string }
}

export function ladderText(settings: DbSettings): string {
  const rungs = ladderTimeouts(settings.lockTimeoutMs, settings.lockRetries)
  return `lock_timeout ladder ${rungs[0]}..${rungs[rungs.length - 1]} ms, ${rungs.length} attempts`
}

export function slug(text: string, max = 40): string {
  return (
    text
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '')
      .slice(0, max)
      .replace(/-$/, '') || 'step'
  )
}

/** Masks any URL/password that could have slipped into a message. */
export function scrub(text: string, settings?: DbSettings): string {
  let out = text
  if (settings) out = out.split(settings.url).join(maskUrl(settings.url))
  return out.replace(/\b(postgres(?:ql)?:\/\/)([^:/@\s]+):([^@\s]+)@/gi, '$1$2:***@')
}

/** A failed StepResult from any error: RollbackErrors keep their hint; SQL errors name the field. */
export function failedResult(
  err: unknown,
  field: string,
  settings?: DbSettings,
  extra: { changed?: string[]; recovery?: string[]; details?: Record<string, unknown> } = {}
): FailedStep {
  const e = err instanceof RollbackError ? err : sqlError(err, field)
  const details: Record<string, unknown> = { ...extra.details }
  if (err instanceof LockLadderExhausted) details.lockAttempts = err.attempts
  return {
    status: 'failed',
    changed: extra.changed ?? [],
    recovery: extra.recovery,
    details,
    error: {
      message: scrub(e.message, settings),
      hint: e.hint ? scrub(e.hint, settings) : undefined
    }
  }
}

/** The preflight session; under `plan` an unreachable database is a warning, not a failure. */
export async function preflightSession(
  settings: () => DbSettings,
  only: { planning: boolean; log: Logger; phase: string }
): Promise<{ client: pg.Client; settings: DbSettings } | undefined> {
  const resolved = settings()
  try {
    return { client: await connect(resolved, 'preflight'), settings: resolved }
  } catch (err) {
    if (!only.planning) throw err
    only.log.warn(`${only.phase} preflight: ${(err as Error).message}`)
    return undefined
  }
}
