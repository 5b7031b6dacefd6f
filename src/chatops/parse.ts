/**
 * Parses a ChatOps comment:
 *   /rollback [plan|run|drill] [critical|high|medium|low] [revert=A..B] [strategy=revert|reset]
 *             [reset-to=SHA] [confirm=SHA] [phases=a,b] [branch=name]
 * The body is attacker-controlled text. Only its first line counts (any line separator ends it),
 * only the keys above are accepted (never the runbook path or a token), every value is one plain
 * token, and anything else is refused with the reason and the usage. The values are then checked
 * by the same rules as the action's inputs (src/request.ts).
 */
import type { RawInputs } from '../request.js'
import { SEVERITIES } from '../runbook/constants.js'
import { closest } from '../util/closest.js'

export const CHATOPS_TRIGGER = '/rollback'

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

/** The first line, without surrounding spaces; a line separator before the command ends it too. */
export function firstLine(body: string): string {
  return body.split(LINE_END, 1)[0]!.trim()
}

export function parseChatOpsComment(body: string, trigger = CHATOPS_TRIGGER): ChatOpsParse {
  const line = firstLine(body)
  const isCommand =
    line === trigger || (line.startsWith(trigger) && /\s/.test(line.charAt(trigger.length)))
  if (!isCommand) return { kind: 'not-a-command' }
  if (line.length > MAX_COMMAND_LENGTH)
    return invalid(`the command is longer than ${MAX_COMMAND_LENGTH} characters`)
  const hostile = hostileText(line)
  if (hostile) return invalid(hostile)
  const words = line.slice(trigger.length).trim().split(/\s+/).filter(Boolean)
  const inputs: RawInputs = {}
  for (const [index, word] of words.entries()) {
    const problem = readWord(word, index, inputs)
    if (problem) return invalid(problem)
  }
  inputs.command ??= 'plan'
  return { kind: 'command', inputs }
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
    return `"${key}" is not a key a comment may set${guess ? ` (did you mean "${guess}"?)` : ''}; allowed: ${Object.keys(KEYS).join(', ')}`
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
  return `"${word}" is not a command or a severity${guess ? ` (did you mean "${guess}"?)` : ''}`
}
