/**
 * notify phase: a `before` step ("initiated": status comment on the triggering issue/PR, webhook)
 * and a `finally` step (the same comment updated to complete/failed with the report, the incident
 * issue, or a comment on it when a re-run of the same workflow run finds it open, webhook).
 * What cannot be done for lack of a GitHub target/token is skipped and said so;
 * a failed notification only warns: it never stops a rollback. Every body is redacted.
 * A drill posts the status comment (marked as a drill) and, with `drill-issue`, its result on the
 * runbook's one drill tracking issue; no incident issue, no webhook.
 */
import {
  RollbackError,
  stillRunningText,
  type PhaseModule,
  type RunningStatus,
  type Step,
  type StepResult
} from '../../model.js'
import { GitHubApiError, type GitHubClient } from '../../github/client.js'
import { DEFAULT_SEVERITY_MATRIX } from '../../runbook/constants.js'
import { MissingSecretError } from '../../util/errors.js'
import type { Runbook } from '../../runbook/schema.js'
import {
  drillIssue,
  incidentIssue,
  statusComment,
  webhook,
  type Notification,
  type NotifyDeps
} from './channels.js'
import { closingMessage, fit, header, tag, type NotifyAction } from './message.js'

export type { NotifyAction } from './message.js'

/** The webhook URL from the variable the runbook names; refused when unset or not http(s). */
function webhookUrl(deps: NotifyDeps): string | undefined {
  const { variable: name, url } = deps.webhook
  if (!name) return undefined
  if (!url)
    throw new MissingSecretError(
      `notify.webhook-env names ${name}, but ${name} is not set`,
      `Pass the webhook URL secret to the step as env ${name}, or remove notify.webhook-env from the runbook.`
    )
  if (!/^https?:\/\/\S+$/.test(url))
    throw new RollbackError(
      `${name} does not hold an http(s) URL`,
      `Set ${name} to the webhook URL (e.g. a Slack incoming webhook).`
    )
  return url
}

function begin(step: Step<NotifyAction>, deps: NotifyDeps, update?: string): Notification {
  const { action } = step
  const clean = (text: string) => deps.redactor.redact(text)
  const closing =
    action.kind === 'closing' && !update
      ? closingMessage(action, deps.run, deps.progress.failed)
      : undefined
  const headline = closing
    ? closing.headline
    : update
      ? `⏳ ${tag(deps.run, action)}${action.config.messages.initiated}: ${update}`
      : `🚨 ${tag(deps.run, action)}${action.config.messages.initiated}`
  const summary = closing ? deps.progress.summary() : ''
  return {
    action,
    deps,
    client: deps.github.client(),
    closing,
    update,
    body: fit(clean(`${header(deps.run, headline)}${summary ? `\n${summary}\n` : ''}`)),
    summary,
    clean,
    done: [],
    skipped: [],
    problems: [],
    outputs: {}
  }
}

async function notify(step: Step<NotifyAction>, deps: NotifyDeps): Promise<StepResult> {
  const url = webhookUrl(deps)
  const n = begin(step, deps)
  // In this order: the webhook names the incident issue opened just before.
  await statusComment(n)
  await incidentIssue(n)
  await drillIssue(n)
  await webhook(n, url)
  const { done, skipped, problems, outputs } = n
  const details = { done, skipped, ...(problems.length ? { problems } : {}) }
  for (const s of skipped) deps.log.info(`notify: skipped ${s}`)
  if (problems.length > 0)
    return {
      status: 'warned',
      changed: done,
      outputs,
      details,
      error: {
        message: `notification failed (the rollback itself is unaffected): ${problems.join('; ')}`,
        hint: 'Tell people by hand; check the github-token permissions (issues: write) and the webhook.'
      }
    }
  return { status: done.length === 0 ? 'skipped' : 'succeeded', changed: done, outputs, details }
}

/** The status comment and the webhook hear where a long run is (the closing step says the end). */
async function stillRunning(
  steps: Step<NotifyAction>[],
  deps: NotifyDeps,
  status: RunningStatus
): Promise<void> {
  const step = steps.find(s => s.action.kind === 'initiated') ?? steps[0]
  if (!step) return
  const n = begin(step, deps, stillRunningText(status))
  // A ChatOps run's status comment is the reply, which the run's caller keeps current (with the
  // steps so far): writing a bare notice over it would hide them until the step ends.
  if (deps.run.request.trigger.kind !== 'chatops') await statusComment(n)
  await webhook(n, deps.webhook.url)
  for (const problem of n.problems) deps.log.warn(`status update: ${problem}`)
}

/**
 * Whether github-token can reach the issues (a push-only token given as github-token cannot); the
 * problem and its fix, or undefined. Other failures (network) are left to the run's own retries.
 */
async function issuesProblem(client: GitHubClient): Promise<string | undefined> {
  try {
    await client.checkIssuesAccess()
    return undefined
  } catch (err) {
    if (!(err instanceof GitHubApiError) || (err.status !== 401 && err.status !== 403))
      return undefined
    return `GitHub comments and issues will fail: ${err.message}${err.hint ? `. ${err.hint}` : ''}`
  }
}

export const notifyPhase: PhaseModule<NotifyAction, keyof NotifyDeps> = {
  phase: 'notify',
  needs: ['github', 'webhook', 'fetch', 'redactor', 'log', 'run', 'progress'],
  plan(runbook: Runbook, request) {
    const severity = request.severity
    const investigateOnly = !(
      runbook.severity[severity]?.mutate ?? DEFAULT_SEVERITY_MATRIX[severity].mutate
    )
    const config = runbook.notify
    if (config === undefined) return []
    const channels = [
      config['status-comment'] ? 'status comment' : undefined,
      config['webhook-env'] ? `webhook (${config['webhook-env']})` : undefined
    ].filter(Boolean)
    const closingChannels = [
      ...channels,
      config['incident-issue'] && request.command !== 'drill'
        ? `incident issue [${config['incident-issue'].labels.join(', ')}]`
        : undefined,
      config['drill-issue'] && request.command === 'drill'
        ? `drill tracking issue [${config['drill-issue'].labels.join(', ')}]`
        : undefined
    ].filter(Boolean)
    return [
      {
        id: 'notify:initiated',
        phase: 'notify',
        title: `Announce "${config.messages.initiated}" (${channels.join(', ') || 'no channel'})`,
        changes: [],
        mutates: false,
        stage: 'before',
        action: { kind: 'initiated', config, investigateOnly }
      },
      {
        id: 'notify:closing',
        phase: 'notify',
        title: `Report "${config.messages.complete}" or "${config.messages.failed}" (${closingChannels.join(', ') || 'no channel'})`,
        changes: [],
        mutates: false,
        stage: 'finally',
        action: { kind: 'closing', config, investigateOnly }
      }
    ]
  },

  async preflight(steps, deps) {
    const notes = []
    webhookUrl(deps)
    const wanting = steps.filter(({ action: { config } }) =>
      Boolean(config['status-comment'] || config['incident-issue'] || config['drill-issue'])
    )
    const client = deps.github.client()
    const problem = client && wanting.length > 0 ? await issuesProblem(client) : undefined
    for (const step of wanting) {
      if (!client)
        notes.push({
          stepId: step.id,
          details: { willSkip: `GitHub comment/issue: ${deps.github.unavailable()}` }
        })
      else if (problem) notes.push({ stepId: step.id, details: { willFail: problem } })
    }
    // Said before the first change; like a 403 during the run, it does not stop the rollback.
    if (problem) deps.log.warn(`notify preflight: ${problem}`)
    return { notes }
  },

  run: notify,
  drill: notify,
  stillRunning
}
