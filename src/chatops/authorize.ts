/**
 * Who may start a rollback from a comment. The commenter's repository role comes from the
 * collaborator permission API (never from the payload's author_association): `role_name` holds
 * the real role (maintain, triage, or a custom role's name), `permission` the older four levels.
 * An optional allowlist (users and `org/team`) narrows it further: both must hold.
 */
export const PERMISSION_LEVELS = ['none', 'read', 'triage', 'write', 'maintain', 'admin'] as const
export type PermissionLevel = (typeof PERMISSION_LEVELS)[number]

export interface CollaboratorPermission {
  permission: string
  roleName?: string
  /** The user's `permissions` flags (pull, triage, push, maintain, admin): the base role's. */
  flags?: Partial<Record<string, boolean>>
}

/** The GitHub calls authorisation needs (implemented on the Octokit client). */
export interface PermissionSource {
  /** undefined: not a collaborator (GitHub answers 404). */
  collaboratorPermission(user: string): Promise<CollaboratorPermission | undefined>
  /** Active member of org/team. */
  isTeamMember(org: string, team: string, user: string): Promise<boolean>
}

export interface AuthorizationPolicy {
  minimum: PermissionLevel
  /** Users (`octocat`) and teams (`acme/oncall`); empty: anyone with the minimum permission. */
  allow: string[]
}

/**
 * A refusal has two texts: `reason` is posted in the public reply (what the commenter lacks and
 * how to get it), `detail` goes to the run log only (the allowlist itself: who may act is not for
 * anyone who can comment to read).
 */
export type Authorization =
  { allowed: true; level: PermissionLevel } | { allowed: false; reason: string; detail: string }

export function isPermissionLevel(value: string): value is PermissionLevel {
  return (PERMISSION_LEVELS as readonly string[]).includes(value)
}

/** The `permissions` flag of each level (the collaborator object's names). */
const FLAGS: Record<Exclude<PermissionLevel, 'none'>, string> = {
  read: 'pull',
  triage: 'triage',
  write: 'push',
  maintain: 'maintain',
  admin: 'admin'
}

/**
 * The role as a level: a known role name wins. A custom role has its base role's level: the
 * highest of the `permissions` flags, else `permission` (where a maintain base reads as write
 * and a triage base as read).
 */
export function levelOf(found: CollaboratorPermission | undefined): PermissionLevel {
  if (!found) return 'none'
  if (found.roleName && isPermissionLevel(found.roleName)) return found.roleName
  const flagged = PERMISSION_LEVELS.filter(l => l !== 'none' && found.flags?.[FLAGS[l]] === true)
  if (flagged.length > 0) return flagged.at(-1)!
  return isPermissionLevel(found.permission) ? found.permission : 'none'
}

const rank = (level: PermissionLevel) => PERMISSION_LEVELS.indexOf(level)

/** Parses `chatops-allow`: names separated by commas, spaces or newlines. */
export function parseAllowlist(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map(entry => entry.trim().replace(/^@/, ''))
    .filter(Boolean)
}

export async function authorize(
  source: PermissionSource,
  user: string,
  policy: AuthorizationPolicy
): Promise<Authorization> {
  const level = levelOf(await source.collaboratorPermission(user))
  if (rank(level) < rank(policy.minimum)) {
    const reason = `@${user} has ${level === 'none' ? 'no' : level} access to this repository; /rollback needs ${policy.minimum} or higher (ask a repository admin for ${policy.minimum} access)`
    return { allowed: false, reason, detail: reason }
  }
  if (policy.allow.length === 0) return { allowed: true, level }
  if (await onAllowlist(source, user, policy.allow)) return { allowed: true, level }
  return {
    allowed: false,
    reason: `@${user} is not among the people allowed to start a rollback; /rollback needs ${policy.minimum} access or higher and a place on the workflow's allowlist (chatops-allow), as a user or through a team on it: ask a maintainer of this repository to add you`,
    detail: `@${user} is not on the chatops-allow list (${policy.allow.join(', ')})`
  }
}

async function onAllowlist(source: PermissionSource, user: string, allow: string[]) {
  const lower = user.toLowerCase()
  if (allow.some(entry => !entry.includes('/') && entry.toLowerCase() === lower)) return true
  for (const entry of allow.filter(e => e.includes('/'))) {
    const [org, team] = entry.split('/', 2) as [string, string]
    // A team slug is its name in lower case (`acme/On-Call` is the team `on-call`).
    if (await source.isTeamMember(org, team.toLowerCase(), user)) return true
  }
  return false
}
