/**
 * The part of the GitHub Actions runner protocol the action entry (src/main.ts) speaks: inputs,
 * workflow commands on stdout (log lines, masks, annotations), the output and summary files. It
 * writes what `@actions/core` writes, byte for byte, without loading it: `@actions/core` brings
 * `@actions/http-client` and undici (for OIDC, which this action never uses), half of the bundle
 * and a large share of every start. Like `@actions/core` it reads the runner's variables when
 * called, and only the entry uses it (eslint: `@actions/core` and this file belong to src/main.ts).
 */
import { appendFileSync, existsSync } from 'node:fs'
import { access, appendFile, constants } from 'node:fs/promises'
import { EOL } from 'node:os'

/** Where an annotation points (`@actions/core`'s AnnotationProperties, the fields used here). */
export interface AnnotationProperties {
  title?: string
  file?: string
  startLine?: number
  startColumn?: number
}

const escapeData = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A')
const escapeProperty = (s: string) => escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C')

/** `::name key=value,key=value::message` on stdout; empty property values are left out. */
function issueCommand(
  name: string,
  properties: Record<string, string | number | undefined>,
  message: string
): void {
  let line = `::${name}`
  const keys = Object.keys(properties)
  if (keys.length > 0) {
    const given = keys.filter(key => properties[key])
    line += ` ${given.map(key => `${key}=${escapeProperty(String(properties[key]))}`).join(',')}`
  }
  process.stdout.write(`${line}::${escapeData(message)}${EOL}`)
}

/** An annotation's properties under the command's names (none given: no properties at all). */
function commandProperties(p: AnnotationProperties): Record<string, string | number | undefined> {
  if (Object.keys(p).length === 0) return {}
  return { title: p.title, file: p.file, line: p.startLine, col: p.startColumn }
}

/** The value of input `name` (`INPUT_<NAME>`), trimmed; empty when not given. */
export function getInput(name: string): string {
  return (process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] || '').trim()
}

/** Masks `secret` in the rest of the job's log. */
export function setSecret(secret: string): void {
  issueCommand('add-mask', {}, secret)
}

export function info(message: string): void {
  process.stdout.write(message + EOL)
}

export function debug(message: string): void {
  issueCommand('debug', {}, message)
}

export function warning(message: string, properties: AnnotationProperties = {}): void {
  issueCommand('warning', commandProperties(properties), message)
}

export function error(message: string, properties: AnnotationProperties = {}): void {
  issueCommand('error', commandProperties(properties), message)
}

/** An error annotation, and the step fails when the process ends. */
export function setFailed(message: string): void {
  process.exitCode = 1
  error(message)
}

/**
 * `name<<delimiter` / value / `delimiter`, the delimiter found in neither (so the value cannot end
 * the entry early). `@actions/core` takes a random UUID for it; any absent string does the same.
 */
function keyValueEntry(name: string, value: string): string {
  let delimiter = 'ghadelimiter_'
  while (name.includes(delimiter) || value.includes(delimiter)) {
    delimiter += Math.random().toString(36).slice(2)
  }
  return `${name}<<${delimiter}${EOL}${value}${EOL}${delimiter}`
}

/** A step output: in the `GITHUB_OUTPUT` file, or as the old command when there is none. */
export function setOutput(name: string, value: string): void {
  const file = process.env.GITHUB_OUTPUT || ''
  if (!file) {
    process.stdout.write(EOL)
    issueCommand('set-output', { name }, value)
    return
  }
  if (!existsSync(file)) throw new Error(`Missing file at path: ${file}`)
  appendFileSync(file, `${keyValueEntry(name, value)}${EOL}`, { encoding: 'utf8' })
}

/** The job summary (`GITHUB_STEP_SUMMARY`): `summary.addRaw(markdown).write()` appends it. */
export const summary = {
  addRaw(markdown: string) {
    return { write: () => appendSummary(markdown) }
  }
}

async function appendSummary(markdown: string): Promise<void> {
  const file = process.env.GITHUB_STEP_SUMMARY
  if (!file) {
    throw new Error(
      'Unable to find environment variable for $GITHUB_STEP_SUMMARY. Check if your runtime environment supports job summaries.'
    )
  }
  try {
    await access(file, constants.R_OK | constants.W_OK)
  } catch {
    throw new Error(
      `Unable to access summary file: '${file}'. Check if the file has correct read/write permissions.`
    )
  }
  await appendFile(file, markdown, { encoding: 'utf8' })
}
