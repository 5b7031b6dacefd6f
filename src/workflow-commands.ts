/**
 * The Actions runner's protocol for a JavaScript action, as `@actions/core` speaks it: inputs from
 * `INPUT_*`, workflow commands on stdout, outputs and the summary through the runner's files.
 *
 * Hand-written because `@actions/core` loads undici (for OIDC, which this action never uses) and
 * that alone costs ~90 ms of every start. `test/workflow-commands.test.ts` checks that every call
 * here writes byte for byte what `@actions/core` writes. Only the entry point (index.ts) uses it.
 */
import { randomUUID } from 'node:crypto'
import { accessSync, appendFileSync, constants, existsSync } from 'node:fs'
import { EOL } from 'node:os'

export type RunnerEnv = Record<string, string | undefined>

export interface AnnotationProperties {
  title?: string
  file?: string
  startLine?: number
  startColumn?: number
}

export class WorkflowCommands {
  constructor(
    private readonly env: RunnerEnv,
    private readonly write: (text: string) => void = text => void process.stdout.write(text)
  ) {}

  /** An input, trimmed; '' when not given (the runner passes `with:` as INPUT_<NAME>). */
  getInput(name: string): string {
    return (this.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] ?? '').trim()
  }

  /** Masks `value` in every later log line of the job. */
  setSecret(value: string): void {
    this.command('add-mask', {}, value)
  }

  info(message: string): void {
    this.write(message + EOL)
  }

  debug(message: string): void {
    this.command('debug', {}, message)
  }

  warning(message: string, props: AnnotationProperties = {}): void {
    this.command('warning', annotation(props), message)
  }

  error(message: string, props: AnnotationProperties = {}): void {
    this.command('error', annotation(props), message)
  }

  setOutput(name: string, value: string): void {
    const file = this.env.GITHUB_OUTPUT
    if (!file) {
      this.write(EOL)
      this.command('set-output', { name }, value)
      return
    }
    // A random heredoc delimiter, so a value cannot end the block and inject other outputs.
    const delimiter = `ghadelimiter_${randomUUID()}`
    if (name.includes(delimiter) || value.includes(delimiter)) {
      throw new Error(`output ${name}: contains the delimiter "${delimiter}"`)
    }
    if (!existsSync(file)) throw new Error(`Missing file at path: ${file}`)
    appendFileSync(file, `${name}<<${delimiter}${EOL}${value}${EOL}${delimiter}${EOL}`, 'utf8')
  }

  /** Appends markdown to the job summary (GITHUB_STEP_SUMMARY). */
  appendSummary(markdown: string): void {
    const file = this.env.GITHUB_STEP_SUMMARY
    if (!file) {
      throw new Error('Unable to find environment variable for $GITHUB_STEP_SUMMARY.')
    }
    try {
      accessSync(file, constants.R_OK | constants.W_OK)
    } catch {
      throw new Error(`Unable to access summary file: '${file}'. Check read/write permissions.`)
    }
    appendFileSync(file, markdown, 'utf8')
  }

  private command(
    name: string,
    props: Record<string, string | number | undefined>,
    message: string
  ) {
    const list = Object.entries(props)
      .filter(([, v]) => v !== undefined && v !== '' && v !== 0)
      .map(([k, v]) => `${k}=${escapeProperty(String(v))}`)
    const head = list.length ? `::${name} ${list.join(',')}::` : `::${name}::`
    this.write(head + escapeData(message) + EOL)
  }
}

function annotation(p: AnnotationProperties): Record<string, string | number | undefined> {
  return { title: p.title, file: p.file, line: p.startLine, col: p.startColumn }
}

function escapeData(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A')
}

function escapeProperty(s: string): string {
  return escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C')
}
