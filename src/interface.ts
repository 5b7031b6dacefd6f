/**
 * The action's public interface as data: inputs and outputs with descriptions and defaults.
 * action.yml mirrors this registry (a contract test keeps them equal); the CLI derives its flags
 * from it, so the three never drift apart.
 */
export interface InputSpec {
  description: string
  default?: string
  /** A secret: masked, never a CLI flag. The CLI reads it from `secretEnv`, or (when that is
   * unset) only from the variable the runbook names, so a stray shell variable can never point a
   * run at the wrong database or project. */
  secret?: true
  secretEnv?: string
  /** Only meaningful in Actions (ChatOps): not a CLI flag. */
  actionOnly?: true
}

export const INPUTS = {
  runbook: { description: 'Path of the runbook file.', default: '.github/rollback.yml' },
  command: {
    description:
      'plan (show what would change, change nothing), run (do it) or drill (prove it works without changing production).',
    default: 'plan'
  },
  severity: {
    description:
      'critical, high, medium or low: picks the phases from the runbook decision matrix. Required for run; plan and drill default to critical.',
    default: ''
  },
  phases: {
    description:
      'Optional subset of phases, comma separated (flags, verify, database, git, schema, integrity, files, monitor, notify).',
    default: ''
  },
  'git-strategy': { description: 'revert (default from the runbook) or reset.', default: '' },
  revert: {
    description: 'Commits to revert: a range A..B or SHAs separated by spaces or commas.',
    default: ''
  },
  'reset-to': { description: 'Known-good commit SHA for git-strategy reset.', default: '' },
  confirm: {
    description:
      'For reset: repeat the reset-to SHA (7+ characters) to confirm discarding later commits.',
    default: ''
  },
  branch: {
    description: 'Branch to roll back (default from the runbook, else main).',
    default: ''
  },
  'expect-head': {
    description:
      "Full SHA of the branch head the run must start from (the plan's branch-head output): a run refuses to change the branch when it has moved since (trigger it again to plan again), and pushes with that SHA as the lease.",
    default: ''
  },
  'lock-wait': {
    description:
      'How long a run or drill waits in line when another rollback holds the lock (0, or a duration such as 30s, 15m, 1h; at most 2h). 0: refused at once, naming the holder.',
    default: '0'
  },
  'lock-stale-after': {
    description:
      'How old a held lock must be before a new run may take it over, when the run that holds it has ended (checked through the Actions API; a CLI run is never taken over). At least 10m.',
    default: '3h'
  },
  'release-lock': {
    description:
      'true: remove a stale rollback lock (the lock ref on the git remote) after saying who held it, say who waits in the queue and remove its stale entries, and do nothing else.',
    default: 'false'
  },
  'github-token': {
    description:
      "Token for the GitHub API: comments, reactions, the incident issue, the commenter's role (the workflow's GITHUB_TOKEN with issues and pull-requests write); also for git when push-token is not given.",
    default: '${{ github.token }}',
    secret: true,
    secretEnv: 'GITHUB_TOKEN'
  },
  'push-token': {
    description:
      'Token for git only (fetch and push: the revert or reset, the backup ref, the lock): e.g. a fine-grained token with Contents read and write that may push past branch protection. Default: github-token.',
    default: '',
    secret: true,
    secretEnv: 'ROLLBACK_PUSH_TOKEN'
  },
  'hosting-token': {
    description:
      'Hosting platform API token (default: the variable the runbook names, e.g. VERCEL_TOKEN).',
    default: '',
    secret: true
  },
  'database-url': {
    description:
      'PostgreSQL connection URL (default: the variable the runbook names, e.g. DATABASE_URL).',
    default: '',
    secret: true
  },
  'chatops-permission': {
    description:
      'For /rollback comments: the minimum repository role of the commenter (read, triage, write, maintain or admin).',
    default: 'write',
    actionOnly: true
  },
  'chatops-allow': {
    description:
      'For /rollback comments: optional allowlist of users and org/team slugs (comma or newline separated); the commenter must also have chatops-permission.',
    default: '',
    actionOnly: true
  },
  chatops: {
    description:
      'For /rollback comments: run (read, authorise and run the command in this job) or gate (read, authorise and reply; output the request for a later job behind its environment, change nothing).',
    default: 'run',
    actionOnly: true
  },
  'chatops-reply': {
    description:
      'For the job after a chatops gate: the id of the reply comment to update in place (the request comes from the inputs).',
    default: '',
    actionOnly: true
  },
  'plan-before-run': {
    description:
      "true: this plan is the one a run waits on (the reusable workflow's plan job before a run). Its chatops reply then says that the run awaits approval in the severity's environment, or starts next; the result reaction is left to the run.",
    default: 'false',
    actionOnly: true
  }
} as const satisfies Record<string, InputSpec>

export type InputName = keyof typeof INPUTS

export const OUTPUTS = {
  status:
    "planned, succeeded or failed; for /rollback comments also refused (commenter not allowed), ignored (not a command, an edit, or a bot's comment) or accepted (a chatops gate let it through).",
  request:
    'For a chatops gate: the accepted request as JSON (command, severity, revert, ... with full SHAs) and the reply comment id.',
  report: 'Path of the JSON report (the journal of every step).',
  'head-sha': 'Branch head after the git phase.',
  'branch-head':
    'Full SHA of the branch head the checks saw before anything changed (for a plan: what it was made against); empty without a git or files step. Give it to the run as expect-head.',
  environment:
    "GitHub Environment whose required reviewers must approve a run of the severity: the runbook's severity.<severity>.environment (built in: production-rollback for high); empty when it names none.",
  'deployment-url': 'URL of the deployment made by the flags phase.',
  'incident-issue':
    'URL of the incident issue, when one was opened (or, on a re-run of the same workflow run, reported on).'
} as const

export type OutputName = keyof typeof OUTPUTS
