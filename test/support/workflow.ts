/** The reusable workflow as data, and its `decide` step run as the runner would: bash, env, files. */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse } from 'yaml'

export interface Step {
  id?: string
  uses?: string
  run?: string
  if?: string
  with?: Record<string, unknown>
  env?: Record<string, string>
}
export interface Job {
  name?: string
  uses?: string
  steps?: Step[]
  environment?: string
  needs?: string | string[]
  if?: string
  with?: Record<string, unknown>
  secrets?: Record<string, string> | 'inherit'
  concurrency?: { group: string; 'cancel-in-progress': boolean }
  permissions?: Record<string, string>
  'timeout-minutes'?: number
  outputs?: Record<string, string>
}
export interface Workflow {
  on: Record<string, unknown>
  jobs: Record<string, Job>
  permissions?: Record<string, string>
  concurrency?: unknown
}

export const REUSABLE = '.github/workflows/rollback.yml'

export const loadWorkflow = (file: string) => parse(readFileSync(file, 'utf8')) as Workflow

/** Runs the reusable workflow's `decide` step with these variables; its outputs by name. */
export function decide(env: Record<string, string>) {
  const script = loadWorkflow(REUSABLE).jobs.request!.steps!.find(s => s.id === 'decide')!.run!
  const dir = mkdtempSync(join(tmpdir(), 'decide-'))
  const files = { GITHUB_OUTPUT: join(dir, 'output'), GITHUB_STEP_SUMMARY: join(dir, 'summary') }
  for (const file of Object.values(files)) writeFileSync(file, '')
  const result = spawnSync('bash', ['-e', '-c', script], {
    encoding: 'utf8',
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', ...files, ...env }
  })
  const outputs: Record<string, string> = Object.fromEntries(
    readFileSync(files.GITHUB_OUTPUT, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map(line => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)])
  )
  return { code: result.status, stdout: result.stdout, outputs, dir }
}

/** The decision for a Run-button (workflow_dispatch) request. */
export const dispatch = (inputs: Record<string, unknown>) =>
  decide({ EVENT_NAME: 'workflow_dispatch', INPUTS: JSON.stringify(inputs) })
