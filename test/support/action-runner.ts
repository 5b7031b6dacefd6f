/**
 * Runs the action's bundle (built from the current sources: ./bundle.ts) the way the Actions runner
 * runs dist/index.js: INPUT_* env, files for outputs. The Node binary is the one running the tests
 * unless ACTION_NODE names another (.ci/run sets it to Node 24, what action.yml declares) or a
 * test passes `node`.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { builtBundle } from './bundle.js'

export interface ActionRun {
  code: number | null
  stdout: string
  stderr: string
  outputs: Record<string, string>
  summary: string
}

/** Parses the GITHUB_OUTPUT file (name<<delimiter blocks). */
export function parseOutputFile(text: string): Record<string, string> {
  const outputs: Record<string, string> = {}
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const match = /^([^<=]+)<<(.+)$/.exec(lines[i]!)
    if (!match) continue
    const value: string[] = []
    for (i++; i < lines.length && lines[i] !== match[2]; i++) value.push(lines[i]!)
    outputs[match[1]!] = value.join('\n')
  }
  return outputs
}

/** The Node binary that runs the action: ACTION_NODE when set, else the one running the tests. */
export const actionNode: string = process.env.ACTION_NODE || process.execPath

export async function runAction(
  inputs: Record<string, string>,
  env: Record<string, string> = {},
  event: unknown = {},
  options: { node?: string } = {}
): Promise<ActionRun> {
  const dir = await mkdtemp(join(tmpdir(), 'action-run-'))
  const files = {
    GITHUB_OUTPUT: join(dir, 'output'),
    GITHUB_STEP_SUMMARY: join(dir, 'summary.md'),
    GITHUB_EVENT_PATH: join(dir, 'event.json'),
    GITHUB_STATE: join(dir, 'state'),
    GITHUB_ENV: join(dir, 'env')
  }
  await Promise.all([
    ...Object.values(files).map(f => writeFile(f, '')),
    writeFile(files.GITHUB_EVENT_PATH, JSON.stringify(event))
  ])
  const inputEnv = Object.fromEntries(
    Object.entries(inputs).map(([k, v]) => [`INPUT_${k.replace(/ /g, '_').toUpperCase()}`, v])
  )
  const entry = join(await builtBundle(), 'index.js')
  const child = spawn(options.node ?? actionNode, [entry], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      RUNNER_TEMP: dir,
      GITHUB_WORKSPACE: process.cwd(),
      GITHUB_EVENT_NAME: 'workflow_dispatch',
      ...files,
      ...inputEnv,
      ...env
    }
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', d => (stdout += d))
  child.stderr.on('data', d => (stderr += d))
  const code = await new Promise<number | null>(resolve => child.on('close', resolve))
  return {
    code,
    stdout,
    stderr,
    outputs: parseOutputFile(await readFile(files.GITHUB_OUTPUT, 'utf8')),
    summary: await readFile(files.GITHUB_STEP_SUMMARY, 'utf8')
  }
}
