/**
 * The part of `@actions/core` this action uses, taken from its own modules: workflow commands
 * (`command.js`), file commands (`file-command.js`) and the job summary (`summary.js`).
 *
 * Why not its entry: `@actions/core`'s index statically imports its OIDC client, which loads
 * `@actions/http-client` and undici (a large part of the bundle, plus Node's http, tls and zlib)
 * for `getIDToken()`, which this action never calls, at every start (`npm run bench:startup`).
 * The functions below are `core.js`'s own one-liners over the same modules, so what reaches the
 * runner is byte for byte what `@actions/core` writes (test/runner-commands.test.ts).
 * The package's `exports` map offers only its entry, hence the paths into its `lib/`.
 */
import { EOL } from 'node:os'
import { issueCommand } from '../../node_modules/@actions/core/lib/command.js'
import {
  issueFileCommand,
  prepareKeyValueMessage
} from '../../node_modules/@actions/core/lib/file-command.js'
import { summary } from '../../node_modules/@actions/core/lib/summary.js'
import { toCommandProperties, toCommandValue } from '../../node_modules/@actions/core/lib/utils.js'
import type { AnnotationProperties } from '@actions/core'

/**
 * What the action's entry asks of the runner: the part of `@actions/core` it uses. `@actions/core`
 * itself and this module both provide it.
 */
export interface RunnerCommands {
  getInput(name: string): string
  setOutput(name: string, value: string): void
  setSecret(secret: string): void
  setFailed(message: string): void
  info(message: string): void
  warning(message: string, properties?: AnnotationProperties): void
  error(message: string, properties?: AnnotationProperties): void
  debug(message: string): void
  summary: { addRaw(text: string): { write(): Promise<unknown> } }
}

export { summary }

/** `core.getInput`: the trimmed value of `INPUT_<NAME>`, empty when unset. */
export function getInput(name: string): string {
  return (process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] ?? '').trim()
}

/** `core.setOutput`: through the `GITHUB_OUTPUT` file, or the legacy command without one. */
export function setOutput(name: string, value: string): void {
  if (process.env.GITHUB_OUTPUT) {
    issueFileCommand('OUTPUT', prepareKeyValueMessage(name, value))
    return
  }
  process.stdout.write(EOL)
  issueCommand('set-output', { name }, toCommandValue(value))
}

/** `core.setSecret`: the runner masks the value in every later log line. */
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
  issueCommand('warning', toCommandProperties(properties), message)
}

export function error(message: string, properties: AnnotationProperties = {}): void {
  issueCommand('error', toCommandProperties(properties), message)
}

/** `core.setFailed`: an error annotation and exit code 1. */
export function setFailed(message: string): void {
  process.exitCode = 1
  error(message)
}
