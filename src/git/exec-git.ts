/**
 * Runs one git command and collects its output. Node's own spawn, not `@actions/exec`: that one
 * looks git up on PATH (a stat per directory) and builds a tool runner for every command, and a
 * plan starts several. git is found on the PATH of the environment it is given.
 */
import { spawn } from 'node:child_process'
import { constants } from 'node:os'

/** What one git command printed, and how it ended. */
export interface GitOutput {
  exitCode: number
  stdout: string
  stderr: string
}

export interface GitRunOptions {
  cwd: string
  env: Record<string, string>
  /** Written to git's standard input (batch commands). */
  input?: string
}

/** Runs `git <args>`; replaceable so tests can observe every invocation. */
export type GitRunner = (args: string[], options: GitRunOptions) => Promise<GitOutput>

/** Output kept per stream: far more than any command here prints, bounded all the same. */
export const GIT_OUTPUT_LIMIT = 256 * 1024 * 1024

/** Exit code reported for a git killed by a signal (as a shell reports it: 128 + its number). */
const SIGNAL_EXIT = 128

export const execGit: GitRunner = (args, { cwd, env, input }) =>
  new Promise((resolve, reject) => {
    const child = spawn('git', args, {
      cwd,
      env,
      stdio: 'pipe',
      windowsHide: true
    })
    const streams = { stdout: '', stderr: '' }
    const collect = (name: keyof typeof streams) => (chunk: string) => {
      streams[name] += chunk
      if (streams[name].length <= GIT_OUTPUT_LIMIT) return
      child.kill()
      reject(new Error(`git ${args[0]} printed more than ${GIT_OUTPUT_LIMIT} bytes on ${name}`))
    }
    child.stdout.setEncoding('utf8').on('data', collect('stdout'))
    child.stderr.setEncoding('utf8').on('data', collect('stderr'))
    child.on('error', err => reject(new Error(`git could not be started: ${err.message}`)))
    child.on('close', (code, signal) => {
      const exitCode = code ?? SIGNAL_EXIT + (signal ? constants.signals[signal] : 0)
      resolve({ exitCode, ...streams })
    })
    // git may exit before reading all of it (a failed batch): that is its answer, not ours.
    child.stdin.on('error', () => {})
    child.stdin.end(input)
  })
