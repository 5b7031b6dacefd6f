/**
 * The environment of every child process (git, the smoke command), built by allowlist: what a
 * process needs to start and reach the network (PATH, HOME, locale, temp directory, proxies), the
 * variables we set ourselves, and the ones a command explicitly asks for. Nothing else passes, so
 * the GitHub token, the hosting token and the database URL in the run's environment never reach a
 * child (nor a hook or alias it runs) unless that child names them.
 */

/** Needed to start programs, find the home directory and the locale; Windows' own essentials. */
const BASE = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'LANG',
  'LANGUAGE',
  'TZ',
  'TMPDIR',
  'TEMP',
  'TMP',
  'SYSTEMROOT',
  'COMSPEC',
  'PATHEXT',
  'WINDIR',
  'USERPROFILE',
  'APPDATA',
  'LOCALAPPDATA'
]

/** A runner behind a proxy reaches the remote only through it. */
const PROXY = ['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'ALL_PROXY']

/** Locale categories (LC_ALL, LC_CTYPE, ...). */
const LOCALE_PREFIX = 'LC_'

export interface ChildEnvOptions {
  /** Names of further variables of `parent` the command needs (e.g. the smoke test's APP_URL). */
  pass?: readonly string[]
  /** Values we set ourselves; they win over `parent`. */
  set?: Readonly<Record<string, string>>
}

/**
 * The allowlisted environment for a child process, from the run's environment snapshot.
 * Names are compared without case: Windows spells them freely, proxies are written both ways.
 */
export function childEnv(
  parent: Readonly<Record<string, string | undefined>>,
  options: ChildEnvOptions = {}
): Record<string, string> {
  const allowed = new Set([...BASE, ...PROXY, ...(options.pass ?? [])].map(n => n.toUpperCase()))
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(parent)) {
    if (value === undefined) continue
    const upper = name.toUpperCase()
    if (allowed.has(upper) || upper.startsWith(LOCALE_PREFIX)) env[name] = value
  }
  return { ...env, ...options.set }
}
