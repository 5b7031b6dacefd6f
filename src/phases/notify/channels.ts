/**
 * One handler per notification channel. Each records what it did, skipped or failed on the
 * shared `Notification`; a failure never throws (a notification never stops a rollback).
 */
import type { Dependencies } from '../../dependencies.js'
import type { GitHubClient } from '../../github/client.js'
import { postJson } from '../../http/index.js'
import type { StepOutputs } from '../../model.js'
import {
  drillMarker,
  fit,
  header,
  incidentMarker,
  tag,
  type Closing,
  type NotifyAction
} from './message.js'

export type NotifyDeps = Pick<
  Dependencies,
  'github' | 'webhook' | 'fetch' | 'redactor' | 'log' | 'run' | 'progress'
>

/** One notify step in progress: what every channel reads, and where it records its outcome. */
export interface Notification {
  action: NotifyAction
  deps: NotifyDeps
  client?: GitHubClient
  closing?: Closing
  /** The status comment's body (headline, facts and, when closing, the report). */
  body: string
  summary: string
  clean(text: string): string
  done: string[]
  skipped: string[]
  problems: string[]
  outputs: Partial<StepOutputs>
}

/** Runs one notification; `fn` may return a more precise account of what it did. */
async function attempt(n: Notification, what: string, fn: () => Promise<string | void>) {
  try {
    n.done.push((await fn()) ?? what)
  } catch (err) {
    n.problems.push(`${what}: ${n.clean(err instanceof Error ? err.message : String(err))}`)
  }
}

export async function statusComment(n: Notification): Promise<void> {
  if (!n.action.config['status-comment']) return
  const issue = n.deps.run.request.trigger.issueNumber
  const existing = Number(n.deps.progress.outputs['status-comment-id'])
  const client = n.client
  if (!client) n.skipped.push(`status comment: ${n.deps.github.unavailable()}`)
  // A comment this run already has (its own earlier notice, or the ChatOps reply) is updated.
  else if (Number.isInteger(existing) && existing > 0)
    await attempt(n, `status comment ${existing} updated`, async () => {
      await client.updateComment(existing, n.body)
    })
  else if (issue === undefined)
    n.skipped.push('status comment: the run was not triggered from an issue or PR')
  else
    await attempt(n, `status comment on #${issue}`, async () => {
      const comment = await client.createComment(issue, n.body)
      n.outputs['status-comment-id'] = String(comment.id)
      n.outputs['status-comment-url'] = comment.html_url
    })
}

/** The open issue an earlier attempt of this run opened; a failed lookup only warns. */
async function earlierIncidentIssue(n: Notification, client: GitHubClient, labels: string[]) {
  try {
    const marker = incidentMarker(n.deps.run)
    return await client.findOpenIssue(labels, i => i.body?.includes(marker) ?? false)
  } catch (err) {
    n.problems.push(
      `looking for an incident issue of an earlier attempt: ${err instanceof Error ? err.message : String(err)} (a new one is opened)`
    )
    return undefined
  }
}

export async function incidentIssue(n: Notification): Promise<void> {
  const config = n.action.config['incident-issue']
  const { closing, client } = n
  if (!closing || !config) return
  if (n.deps.run.mode === 'drill')
    return void n.skipped.push('incident issue: not created in a drill')
  if (!client) return void n.skipped.push(`incident issue: ${n.deps.github.unavailable()}`)
  const run = n.deps.run
  await attempt(n, 'incident issue created', async () => {
    const report = `${header(run, closing.headline)}\n${n.summary || '(no report)'}`
    const title = n.clean(
      `Incident: ${run.runbookName} rollback ${closing.failed ? 'FAILED' : 'complete'} (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC)`
    )
    const open = await earlierIncidentIssue(n, client, config.labels)
    if (open) {
      // A re-run of the same workflow run: report there, with the title of the new outcome.
      await client.updateIssue(open.number, { title })
      await client.createComment(open.number, fit(n.clean(report)))
    }
    const issue =
      open ??
      (await client.createIssue({
        title,
        body: fit(
          n.clean(
            `${incidentMarker(run)}\n${report}\n\n## Post-rollback analysis\n- [ ] Incident report: what went wrong\n- [ ] Data analysis: lost or corrupted data\n- [ ] User impact assessment\n- [ ] Cost analysis\n`
          )
        ),
        labels: config.labels
      }))
    n.outputs['incident-issue'] = issue.html_url
    n.outputs['incident-issue-number'] = String(issue.number)
    if (open) return `incident issue #${open.number} (opened by an earlier attempt) updated`
  })
}

/**
 * A drill's result on the runbook's one tracking issue: created by the first drill, then each drill
 * comments and replaces the body's latest result; a failed drill reopens it (a closed issue found
 * by its marker is reused, never duplicated).
 */
export async function drillIssue(n: Notification): Promise<void> {
  const config = n.action.config['drill-issue']
  const { closing, client } = n
  if (!closing || !config || n.deps.run.mode !== 'drill') return
  if (!client) return void n.skipped.push(`drill issue: ${n.deps.github.unavailable()}`)
  await attempt(n, 'drill issue', () => postDrillResult(n, client, config.labels, closing))
}

async function postDrillResult(
  n: Notification,
  client: GitHubClient,
  labels: string[],
  closing: Closing
): Promise<string> {
  const run = n.deps.run
  const marker = drillMarker(run)
  const result = `${header(run, closing.headline)}\n${n.summary || '(no report)'}`
  const body = fit(
    n.clean(
      `${marker}\nThe rollback drill of **${run.runbookName}** reports here: each drill adds a comment and replaces the latest result below; a failed drill reopens this issue.\n\n## Latest result\n\n${result}`
    )
  )
  const found = await client.findIssue(labels, i => i.body?.includes(marker) ?? false, 'all')
  if (!found) {
    const title = n.clean(`Rollback drill: ${run.runbookName}`)
    const issue = await client.createIssue({ title, body, labels })
    return `drill issue #${issue.number} created`
  }
  const reopen = closing.failed && found.state === 'closed'
  await client.updateIssue(found.number, { body, ...(reopen ? { state: 'open' as const } : {}) })
  await client.createComment(found.number, fit(n.clean(result)))
  return `drill issue #${found.number} updated${reopen ? ' and reopened' : ''}`
}

async function postWebhook(deps: NotifyDeps, url: string, text: string): Promise<void> {
  deps.webhook.gate?.assertMayNotify('post to the webhook')
  // Retried on 429/5xx after Retry-After (real time); the URL (a secret) stays out of messages.
  await postJson(url, { text }, { fetch: deps.fetch, timeoutMs: 15_000 })
}

export async function webhook(n: Notification, url: string | undefined): Promise<void> {
  if (!url) return
  if (n.deps.run.mode === 'drill')
    return void n.skipped.push('webhook: not posted in a drill (variable is set)')
  const { run } = n.deps
  const said = n.closing ? n.closing.text : n.action.config.messages.initiated
  const incident = n.outputs['incident-issue']
  const text = n.clean(
    `${tag(run, n.action)}${said}: ${run.runbookName} (severity ${run.request.severity})${run.runUrl ? ` ${run.runUrl}` : ''}${incident ? ` incident: ${incident}` : ''}`
  )
  await attempt(n, 'webhook posted', () => postWebhook(n.deps, url, text))
}
