/**
 * notify phase: a `before` step ("initiated": status comment on the triggering issue/PR, webhook)
 * and a `finally` step (the same comment updated to complete/failed with the report, the incident
 * issue, or a comment on it when a re-run of the same workflow run finds it open, webhook).
 * What cannot be done for lack of a GitHub target/token is skipped and said so;
 * a failed notification only warns: it never stops a rollback. Every body is redacted.
 * A drill posts only the status comment (marked as a drill); no incident issue, no webhook.
 */
import { GitHubClient } from '../github/client.js'
import {
  RollbackError,
  type PhaseModule,
  type RunContext,
  type Step,
  type StepResult
} from '../model.js'
import { DEFAULT_SEVERITY_MATRIX } from '../runbook/constants.js'
import type { NotifyConfig, Runbook } from '../runbook/schema.js'
import { redactorFor } from '../secrets.js'
import { MissingSecretError } from '../util/errors.js'

export interface NotifyAction {
  kind: 'initiated' | 'closing'
  config: NotifyConfig
}

export const STATUS_COMMENT_OUTPUT = 'status-comment-id'

/** GitHub refuses comment and issue bodies over 65 536 characters. */
const MAX_BODY = 60_000

function fit(text: string): string {
  if (text.length <= MAX_BODY) return text
  return `${text.slice(0, MAX_BODY)}\n\n… (report truncated: the full report is in the job summary and the JSON report)`
}

function webhookUrl(config: NotifyConfig, ctx: RunContext): string | undefined {
  const name = config['webhook-env']
  if (!name) return undefined
  const url = ctx.env[name]
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

function github(ctx: RunContext): GitHubClient | undefined {
  const token = ctx.secrets.githubToken
  if (!ctx.github || !token) return undefined
  return new GitHubClient({
    apiUrl: ctx.github.apiUrl,
    token,
    owner: ctx.github.owner,
    repo: ctx.github.repo,
    fetch: ctx.fetch,
    sleep: ms => ctx.sleep(ms)
  })
}

function whyNoGitHub(ctx: RunContext): string {
  if (!ctx.github) return 'no GitHub repository configured'
  return 'no GitHub token (github-token input)'
}

/** "[drill] " or "[investigate only] " (severities that change nothing), else "". */
function tag(ctx: RunContext): string {
  if (ctx.mode === 'drill') return '[drill] '
  const severity = ctx.request.severity
  const mutate = ctx.runbook.severity[severity]?.mutate ?? DEFAULT_SEVERITY_MATRIX[severity].mutate
  return mutate ? '' : '[investigate only] '
}

const marker = (ctx: RunContext) => `<!-- emergency-rollback:${ctx.request.runId} -->`
/**
 * Marks the incident issue of one rollback: this runbook, this workflow run (all its attempts;
 * the run's URL has no attempt number). A re-run of failed jobs finds it; a new run does not.
 */
const incidentMarker = (ctx: RunContext) =>
  `<!-- emergency-rollback-incident:${encodeURIComponent(ctx.runbook.name)}:${encodeURIComponent(ctx.github?.runUrl ?? ctx.request.runId)} -->`

/** The open issue an earlier attempt of this run opened; a failed lookup only warns. */
async function openIncidentIssue(
  client: GitHubClient,
  labels: string[],
  ctx: RunContext,
  problems: string[]
) {
  try {
    const open = await client.openIssuesLabelled(labels)
    return open.find(i => i.body?.includes(incidentMarker(ctx)))
  } catch (err) {
    problems.push(
      `looking for an incident issue of an earlier attempt: ${err instanceof Error ? err.message : String(err)} (a new one is opened)`
    )
    return undefined
  }
}

function header(ctx: RunContext, headline: string): string {
  const r = ctx.request
  const facts = [
    `**Runbook:** ${ctx.runbook.name}`,
    `**Severity:** ${r.severity}`,
    `**Command:** ${r.command}`,
    r.trigger.actor ? `**Triggered by:** @${r.trigger.actor}` : undefined,
    ctx.github?.runUrl ? `[Workflow run](${ctx.github.runUrl})` : undefined
  ].filter(Boolean)
  return `${marker(ctx)}\n### ${headline}\n\n${facts.join(' · ')}\n`
}

function closingMessage(config: NotifyConfig, ctx: RunContext) {
  const failed = ctx.outputs.status === 'failed'
  const text = failed ? config.messages.failed : config.messages.complete
  return {
    failed,
    text,
    headline: `${failed ? '❌' : '✅'} ${tag(ctx)}${text}`
  }
}

async function postWebhook(url: string, text: string, ctx: RunContext): Promise<void> {
  const response = await ctx.fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text }),
    signal: AbortSignal.timeout(15_000)
  })
  if (!response.ok) throw new Error(`webhook answered HTTP ${response.status}`)
}

async function notify(step: Step<NotifyAction>, ctx: RunContext): Promise<StepResult> {
  const { config, kind } = step.action
  const url = webhookUrl(config, ctx)
  const redactor = redactorFor(ctx, [url])
  const clean = (s: string) => redactor.redact(s)
  const client = github(ctx)
  const drill = ctx.mode === 'drill'
  const done: string[] = []
  const skipped: string[] = []
  const problems: string[] = []
  const outputs: Record<string, string> = {}
  /** Runs one notification; `fn` may return a more precise account of what it did. */
  const attempt = async (what: string, fn: () => Promise<string | void>) => {
    try {
      done.push((await fn()) ?? what)
    } catch (err) {
      problems.push(`${what}: ${clean(err instanceof Error ? err.message : String(err))}`)
    }
  }

  const closing = kind === 'closing' ? closingMessage(config, ctx) : undefined
  const headline = closing ? closing.headline : `🚨 ${tag(ctx)}${config.messages.initiated}`
  const summary = closing ? (ctx.summary?.() ?? '') : ''
  const body = fit(clean(`${header(ctx, headline)}${summary ? `\n${summary}\n` : ''}`))

  if (config['status-comment']) {
    const issue = ctx.request.trigger.issueNumber
    const existing = Number(ctx.outputs[STATUS_COMMENT_OUTPUT])
    if (!client) skipped.push(`status comment: ${whyNoGitHub(ctx)}`)
    else if (closing && Number.isInteger(existing) && existing > 0)
      await attempt(`status comment ${existing} updated`, async () => {
        await client.updateComment(existing, body)
      })
    else if (issue === undefined)
      skipped.push('status comment: the run was not triggered from an issue or PR')
    else
      await attempt(`status comment on #${issue}`, async () => {
        const comment = await client.createComment(issue, body)
        outputs[STATUS_COMMENT_OUTPUT] = String(comment.id)
        outputs['status-comment-url'] = comment.html_url
      })
  }

  if (closing && config['incident-issue']) {
    const labels = config['incident-issue'].labels
    if (drill) skipped.push('incident issue: not created in a drill')
    else if (!client) skipped.push(`incident issue: ${whyNoGitHub(ctx)}`)
    else
      await attempt('incident issue created', async () => {
        const report = `${header(ctx, closing.headline)}\n${summary || '(no report)'}`
        const title = clean(
          `Incident: ${ctx.runbook.name} rollback ${closing.failed ? 'FAILED' : 'complete'} (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC)`
        )
        const open = await openIncidentIssue(client, labels, ctx, problems)
        if (open) {
          // A re-run of the same workflow run: report there, with the title of the new outcome.
          await client.updateIssue(open.number, { title })
          await client.createComment(open.number, fit(clean(report)))
        }
        const issue =
          open ??
          (await client.createIssue({
            title,
            body: fit(
              clean(
                `${incidentMarker(ctx)}\n${report}\n\n## Post-rollback analysis\n- [ ] Incident report: what went wrong\n- [ ] Data analysis: lost or corrupted data\n- [ ] User impact assessment\n- [ ] Cost analysis\n`
              )
            ),
            labels
          }))
        outputs['incident-issue'] = issue.html_url
        outputs['incident-issue-number'] = String(issue.number)
        if (open) return `incident issue #${open.number} (opened by an earlier attempt) updated`
      })
  }

  if (url) {
    if (drill) skipped.push('webhook: not posted in a drill (variable is set)')
    else {
      const text = clean(
        `${tag(ctx)}${closing ? closing.text : config.messages.initiated}: ${ctx.runbook.name} (severity ${ctx.request.severity})${ctx.github?.runUrl ? ` ${ctx.github.runUrl}` : ''}${outputs['incident-issue'] ? ` incident: ${outputs['incident-issue']}` : ''}`
      )
      await attempt('webhook posted', () => postWebhook(url, text, ctx))
    }
  }

  const details = { done, skipped, ...(problems.length ? { problems } : {}) }
  for (const s of skipped) ctx.log.info(`notify: skipped ${s}`)
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

export const notifyPhase: PhaseModule<NotifyAction> = {
  phase: 'notify',
  plan(runbook: Runbook) {
    const config = runbook.notify
    if (config === undefined) return []
    const channels = [
      config['status-comment'] ? 'status comment' : undefined,
      config['webhook-env'] ? `webhook (${config['webhook-env']})` : undefined
    ].filter(Boolean)
    const closingChannels = [
      ...channels,
      config['incident-issue']
        ? `incident issue [${config['incident-issue'].labels.join(', ')}]`
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
        action: { kind: 'initiated', config }
      },
      {
        id: 'notify:closing',
        phase: 'notify',
        title: `Report "${config.messages.complete}" or "${config.messages.failed}" (${closingChannels.join(', ') || 'no channel'})`,
        changes: [],
        mutates: false,
        stage: 'finally',
        action: { kind: 'closing', config }
      }
    ]
  },

  async preflight(steps, ctx) {
    const notes = []
    for (const step of steps) {
      webhookUrl(step.action.config, ctx)
      if (
        !github(ctx) &&
        (step.action.config['status-comment'] || step.action.config['incident-issue'])
      )
        notes.push({
          stepId: step.id,
          details: { willSkip: `GitHub comment/issue: ${whyNoGitHub(ctx)}` }
        })
    }
    return notes
  },

  run: notify,
  drill: notify
}
