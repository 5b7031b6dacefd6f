/**
 * Parses a ChatOps comment:
 *   /rollback [plan|run|drill] [critical|high|medium|low] [revert=A..B] [strategy=revert|reset]
 *             [reset-to=SHA] [confirm=SHA] [phases=a,b] [branch=name]
 * Which comments are meant for us is one rule shared with the callers' workflow condition
 * (`startsWith(github.event.comment.body, '/rol')`, which ignores case and trims nothing): the
 * body's first characters are CHATOPS_PREFIX in any case. Every such comment is answered: the
 * command when its first word is /rollback (any case), else the usage, so no comment that starts
 * a job is dropped without a word.
 * The body is attacker-controlled text. Only its first line counts (any line separator ends it),
 * only the keys above are accepted (never the runbook path or a token), every value is one plain
 * token, and anything else is refused with the reason and the usage. The values are then checked
 * by the same rules as the action's inputs (src/request.ts).
 */
import type { RawInputs } from '../request.js'
import { SEVERITIES } from '../runbook/constants.js'
import { closest } from '../util/closest.js'

export const CHATOPS_TRIGGER = '/rollback'

/**
 * What a comment starts with when it is meant for us (any case): the callers' `if:` uses it, so
 * a typo after it (`/rolback`, `/rollbak`) still reaches the action and gets the usage.
 */
export const CHATOPS_PREFIX = '/rol'

export const CHATOPS_USAGE =
  '/rollback [plan|run|drill] [critical|high|medium|low] [revert=A..B] [strategy=revert|reset] [reset-to=SHA] [confirm=SHA] [phases=a,b] [branch=name]'

/** Longest first line read as a command: longer is refused, not truncated. */
export const MAX_COMMAND_LENGTH = 400

/** Comment keys and the inputs they set (`strategy` is the `git-strategy` input). */
const KEYS = {
  revert: 'revert',
  strategy: 'git-strategy',
  'reset-to': 'reset-to',
  confirm: 'confirm',
  phases: 'phases',
  branch: 'branch'
} as const satisfies Record<string, keyof RawInputs>

const COMMAND_WORDS = ['plan', 'run', 'drill'] as const

export type ChatOpsParse =
  | { kind: 'not-a-command' }
  | { kind: 'invalid'; reason: string }
  | { kind: 'command'; inputs: RawInputs }

/** \n, \r, vertical tab, form feed, NEL, and Unicode's line and paragraph separators. */
const LINE_END = /[\n\r\v\f\u0085\u2028\u2029]/

/** One plain token: letters, digits and . _ / , : - (enough for SHAs, ranges, lists, branches). */
const VALUE = /^[A-Za-z0-9._/,:-]+$/

/** The first line without trailing spaces (leading ones make it no command, as in the `if:`). */
export function firstLine(body: string): string {
  return body.split(LINE_END, 1)[0]!.trimEnd()
}

/**
 * GitHub's `startsWith` in expressions: case ignored, nothing trimmed. (ASCII folding: the prefix
 * is ASCII, and no other character folds onto its letters.)
 */
export function startsWithIgnoringCase(text: string, prefix: string): boolean {
  return text.slice(0, prefix.length).toLowerCase() === prefix.toLowerCase()
}

export function parseChatOpsComment(body: string, trigger = CHATOPS_TRIGGER): ChatOpsParse {
  const line = firstLine(body)
  if (!startsWithIgnoringCase(line, CHATOPS_PREFIX)) return { kind: 'not-a-command' }
  if (line.length > MAX_COMMAND_LENGTH)
    return invalid(`the command is longer than ${MAX_COMMAND_LENGTH} characters`)
  const hostile = hostileText(line)
  if (hostile) return invalid(hostile)
  const first = line.split(/\s/, 1)[0]!
  if (first.toLowerCase() !== trigger) return invalid(nearMiss(first, line, trigger))
  const words = line.slice(trigger.length).trim().split(/\s+/).filter(Boolean)
  const inputs: RawInputs = {}
  for (const [index, word] of words.entries()) {
    const problem = readWord(word, index, inputs)
    if (problem) return invalid(problem)
  }
  inputs.command ??= 'plan'
  return { kind: 'command', inputs }
}

/**
 * A first word meant as the trigger but not it: what to write instead. Only plain words are
 * echoed (the reply is public markdown: no mentions, links or markup from the comment).
 */
function nearMiss(first: string, line: string, trigger: string): string {
  // `/rollbackplan`, `/rollback:run`: the word glued on is kept when it is one we know.
  const tail = first.slice(trigger.length).replace(/^[^A-Za-z0-9]+/, '')
  const known: readonly string[] = [...COMMAND_WORDS, ...SEVERITIES]
  const glued = startsWithIgnoringCase(first, trigger) && known.includes(tail) ? [tail] : []
  const words = [...glued, ...line.slice(first.length).split(/\s+/)].filter(w => PLAIN.test(w))
  const meant = [trigger, ...words.slice(0, 8)].join(' ')
  const shown = PLAIN.test(first.slice(1)) ? `"${first}" is not the command` : 'not a command'
  return `${shown}: a command starts with ${trigger} and a space (did you mean "${meant}"?)`
}

/** A word safe to repeat in a reply: no markup, no mention, nothing GitHub turns into a link. */
const PLAIN = /^(?!.*:\/\/)(?!www\.)[A-Za-z0-9._/,:=-]{1,60}$/

/** The word in quotes when it is safe to repeat, else a description that repeats nothing. */
function quoted(word: string, what: string): string {
  return PLAIN.test(word) ? `"${word}"` : what
}

function invalid(reason: string): ChatOpsParse {
  return { kind: 'invalid', reason }
}

/** Shell and expression syntax has no place in a command: say so instead of "bad value". */
function hostileText(line: string): string | undefined {
  if (/\$\{\{/.test(line)) return 'expressions (${{ ... }}) are not allowed in a command'
  if (/\$\(|`/.test(line)) return 'shell syntax ($(...) or backticks) is not allowed in a command'
  if ([...line].some(isControl)) return 'control characters are not allowed in a command'
  return undefined
}

function isControl(char: string): boolean {
  const code = char.codePointAt(0)!
  return code < 0x20 || (code >= 0x7f && code < 0xa0)
}

function readWord(word: string, index: number, inputs: RawInputs): string | undefined {
  const eq = word.indexOf('=')
  if (eq < 0) return readBareWord(word, index, inputs)
  const key = word.slice(0, eq)
  const value = word.slice(eq + 1)
  const input = (KEYS as Record<string, keyof RawInputs>)[key]
  if (!input) {
    const guess = closest(key, Object.keys(KEYS))
    return `${quoted(key, 'that key')} is not a key a comment may set${guess ? ` (did you mean "${guess}"?)` : ''}; allowed: ${Object.keys(KEYS).join(', ')}`
  }
  if (!VALUE.test(value))
    return `${key}: give one plain value (${key}=...) without spaces, quotes or shell characters`
  if (inputs[input] !== undefined) return `${key} is given twice`
  inputs[input] = value
  return undefined
}

/** A word without `=`: the command (first word only) or the severity. */
function readBareWord(word: string, index: number, inputs: RawInputs): string | undefined {
  if ((COMMAND_WORDS as readonly string[]).includes(word)) {
    if (index !== 0)
      return `the command ("${word}") must come first, right after ${CHATOPS_TRIGGER}`
    inputs.command = word
    return undefined
  }
  if ((SEVERITIES as readonly string[]).includes(word)) {
    if (inputs.severity !== undefined) return 'the severity is given twice'
    inputs.severity = word
    return undefined
  }
  const guess = closest(word, [...(index === 0 ? COMMAND_WORDS : []), ...SEVERITIES])
  return `${quoted(word, 'that word')} is not a command or a severity${guess ? ` (did you mean "${guess}"?)` : ''}`
}
