/**
 * monitor phase: watch health checks (and SQL metrics) for `duration`, one sample every
 * `interval`; fail when the share of failed health probes exceeds `max-error-rate` or a metric
 * leaves its min/max. Stops early once failure is certain. Read-only: metrics run on one
 * short-lived client named `emergency-rollback monitor <run id>`. Time goes through the injected clock.
 */
import type { Dependencies } from '../dependencies.js'
import type { PhaseModule, StepResult } from '../model.js'
import { MissingSecretError } from '../util/errors.js'
import type { MonitorConfig, Runbook } from '../runbook/schema.js'
import { elapsedMs, formatDuration, parseDuration } from '../util/duration.js'
import { checkStatement } from '../db/assertions.js'
import { connect as connectDatabase } from '../db/connection.js'
import { probe } from './verify.js'

type MonitorDeps = Pick<Dependencies, 'database' | 'fetch' | 'redactor' | 'log' | 'clock'>

export interface MonitorAction {
  config: MonitorConfig
  durationMs: number
  intervalMs: number
  /** Variable holding the database URL (for metrics). */
  urlEnv: string
}

export interface Sample {
  index: number
  /** ms since the watch started (virtual time: sleeps plus real time). */
  atMs: number
  health: Array<{ name: string; ok: boolean; status?: number; reason?: string; ms: number }>
  metrics: Array<{ name: string; value?: number; ok: boolean; reason?: string }>
}

interface MetricClient {
  value(sql: string): Promise<number>
  close(): Promise<void>
}

/** One read-only session (db/connection names it, masks the URL and explains failures). */
async function connect(deps: MonitorDeps): Promise<MetricClient> {
  const redactor = deps.redactor
  const client = await connectDatabase(deps.database.settings(), 'monitor')
  await client.query('SET default_transaction_read_only = on')
  return {
    async value(sql) {
      try {
        const result = await client.query({ text: sql, rowMode: 'array' })
        const first = (result.rows[0] as unknown[] | undefined)?.[0]
        const value = Number(first)
        if (first === null || first === undefined || !Number.isFinite(value))
          throw new Error(`returned ${JSON.stringify(first ?? null)}, not a number`)
        return value
      } catch (err) {
        throw new Error(redactor.redact(err instanceof Error ? err.message : String(err)))
      }
    },
    close: () => client.end().catch(() => undefined)
  }
}

async function takeSample(
  index: number,
  atMs: number,
  config: MonitorConfig,
  deps: MonitorDeps,
  db: MetricClient | undefined
): Promise<Sample> {
  const health = []
  for (const check of config.health) {
    const r = await probe(check, deps)
    health.push({
      name: check.name,
      ok: r.ok,
      status: r.status,
      ...(r.ok ? {} : { reason: r.reason }),
      ms: r.ms
    })
  }
  const metrics = []
  for (const metric of config.metrics) {
    try {
      const value = await db!.value(metric.sql)
      let reason: string | undefined
      if (metric.max !== undefined && value > metric.max)
        reason = `${value} above max ${metric.max}`
      if (metric.min !== undefined && value < metric.min)
        reason = `${value} below min ${metric.min}`
      metrics.push({ name: metric.name, value, ok: reason === undefined, reason })
    } catch (err) {
      metrics.push({
        name: metric.name,
        ok: false,
        reason: `query failed: ${err instanceof Error ? err.message : String(err)}`
      })
    }
  }
  return { index, atMs, health, metrics }
}

function metricsNeedDb(action: MonitorAction, deps: MonitorDeps): string | undefined {
  if (action.config.metrics.length === 0) return undefined
  const url = deps.database.url()
  if (!url)
    throw new MissingSecretError(
      `monitor.metrics need a database, but ${action.urlEnv} is not set`,
      `Pass the database-url input or set ${action.urlEnv} (runbook database.url-env), or remove monitor.metrics.`
    )
  return url
}

async function watch(action: MonitorAction, deps: MonitorDeps, once: boolean): Promise<StepResult> {
  const { config } = action
  const url = metricsNeedDb(action, deps)
  const db = url ? await connect(deps) : undefined
  const total = once ? 1 : Math.max(1, Math.floor(action.durationMs / action.intervalMs) + 1)
  const plannedProbes = total * config.health.length
  const maxErrors = config['max-error-rate'] * plannedProbes
  const samples: Sample[] = []
  const started = Date.now()
  let slept = 0
  let probes = 0
  let failedProbes = 0
  let metricBreach: string | undefined
  try {
    for (let i = 0; i < total; i++) {
      if (i > 0) {
        await deps.clock.sleep(action.intervalMs)
        slept += action.intervalMs
      }
      const sample = await takeSample(
        i + 1,
        elapsedMs(started, slept, Date.now()),
        config,
        deps,
        db
      )
      samples.push(sample)
      probes += sample.health.length
      failedProbes += sample.health.filter(h => !h.ok).length
      const bad = sample.metrics.find(m => !m.ok)
      if (bad && !metricBreach) metricBreach = `${bad.name}: ${bad.reason} (sample ${i + 1})`
      const line = [
        ...sample.health.map(h => `${h.name} ${h.ok ? 'ok' : h.reason}`),
        ...sample.metrics.map(m => `${m.name}=${m.value ?? m.reason}`)
      ].join('; ')
      deps.log.info(`monitor: sample ${i + 1}/${total}: ${line}`)
      // Stop as soon as the outcome cannot change any more.
      if (!once && (metricBreach || failedProbes > maxErrors)) break
    }
  } finally {
    await db?.close()
  }
  const errorRate = probes === 0 ? 0 : failedProbes / probes
  const finalRate = once ? errorRate : failedProbes / Math.max(plannedProbes, 1)
  const details = {
    samples,
    probes,
    failedProbes,
    errorRate,
    maxErrorRate: config['max-error-rate'],
    watchedMs: elapsedMs(started, slept, Date.now())
  }
  const pct = (x: number) => `${Math.round(x * 1000) / 10}%`
  const problems: string[] = []
  if (plannedProbes > 0 && (once ? errorRate : finalRate) > config['max-error-rate'])
    problems.push(
      `health error rate ${pct(errorRate)} (${failedProbes}/${probes} probes failed) exceeds max-error-rate ${pct(config['max-error-rate'])}`
    )
  if (metricBreach) problems.push(`metric ${metricBreach}`)
  if (problems.length === 0) return { status: 'succeeded', changed: [], details }
  return {
    status: once ? 'warned' : 'failed',
    changed: [],
    details,
    error: {
      message: `${problems.join('; ')}${once ? '' : ` after ${formatDuration(details.watchedMs)} of ${formatDuration(action.durationMs)}`}`,
      hint: 'The system is not stable yet: look at the samples in the report and decide whether to escalate.'
    }
  }
}

export const monitorPhase: PhaseModule<MonitorAction, keyof MonitorDeps> = {
  phase: 'monitor',
  needs: ['database', 'fetch', 'redactor', 'log', 'clock'],
  plan(runbook: Runbook) {
    const config = runbook.monitor
    if (config === undefined) return []
    const action: MonitorAction = {
      config,
      durationMs: parseDuration(config.duration),
      intervalMs: parseDuration(config.interval),
      urlEnv: runbook.database?.['url-env'] ?? 'DATABASE_URL'
    }
    return [
      {
        id: 'monitor',
        phase: 'monitor',
        title: `Watch ${config.health.length} health check(s) and ${config.metrics.length} metric(s) for ${config.duration}, every ${config.interval} (fail above ${config['max-error-rate'] * 100}% errors)`,
        changes: [],
        mutates: false,
        stage: 'main',
        action
      }
    ]
  },

  async preflight(steps, deps) {
    for (const step of steps) {
      metricsNeedDb(step.action, deps)
      // Metrics only read: one read-only SELECT each, which cannot change the session either
      // (set_config() would turn the monitor session's read-only default off).
      for (const [i, metric] of step.action.config.metrics.entries()) {
        await checkStatement(metric, `monitor.metrics[${i}]`)
      }
    }
    return {}
  },

  run(step, deps) {
    return watch(step.action, deps, false)
  },

  /** One sample: proves the probes and queries work; an unhealthy sample only warns. */
  drill(step, deps) {
    return watch(step.action, deps, true)
  }
}
