/** The bundle on Node 24, what action.yml declares (`runs.using: node24`). */
import { describe, expect, it } from '@jest/globals'
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createStreamingRemote } from '../scripts/fixtures/git-remote.js'
import { node24Path } from '../scripts/node24.mjs'
import { runAction } from './support/action-runner.js'

const EXAMPLE = { runbook: resolve('examples/streaming-migration/rollback.yml'), command: 'plan' }

/** A checkout of the example app: the git and files steps check its remote. */
const checkout = async () => ({
  GITHUB_WORKSPACE: (await createStreamingRemote(mkdtempSync(join(tmpdir(), 'node24-co-')))).workdir
})

/**
 * A stand-in for the node binary that runs Node 24 under bash's `time` and writes the CPU time of
 * all its threads, until the process ended, to `cpu` (Node has no rusage of a child).
 */
function timedNode24(dir: string): { node: string; cpuMs: () => number } {
  const node = join(dir, 'node')
  const cpu = join(dir, 'cpu')
  writeFileSync(
    node,
    `#!/usr/bin/env bash\nTIMEFORMAT='%3U %3S'\n{ time '${node24Path()}' "$@" 2>&3; } 3>&2 2>'${cpu}'\n`
  )
  chmodSync(node, 0o755)
  const cpuMs = () => {
    const [user, sys] = readFileSync(cpu, 'utf8').trim().split(' ').map(Number)
    return (user! + sys!) * 1000
  }
  return { node, cpuMs }
}

describe('dist/index.js on Node 24', () => {
  it('runs on the binary it is given', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'node24-'))
    const hook = join(dir, 'version.cjs')
    writeFileSync(
      hook,
      `require('node:fs').writeFileSync(${JSON.stringify(join(dir, 'version'))}, process.version)\n`
    )
    const run = await runAction(
      EXAMPLE,
      { NODE_OPTIONS: `--require ${hook}`, ...(await checkout()) },
      {},
      { node: node24Path() }
    )
    expect(run.code).toBe(0)
    expect(readFileSync(join(dir, 'version'), 'utf8')).toMatch(/^v24\./)
  })

  it('plans the example without V8 optimising the SQL parser in the background', async () => {
    // Tiering the 1.7 MB parser up costs seconds of CPU on background threads and holds the exit
    // back; on the baseline compiler only, a whole plan costs a fraction of that.
    const timed = timedNode24(mkdtempSync(join(tmpdir(), 'node24-')))
    const run = await runAction(EXAMPLE, await checkout(), {}, { node: timed.node })
    expect(run.code).toBe(0)
    expect(run.outputs.status).toBe('planned')
    expect(timed.cpuMs()).toBeLessThan(1500)
  })

  it('plans the example without loading an HTTP stack it does not use (start-up cost)', async () => {
    // A plan with no tokens makes no request. @actions/core's entry would load its HTTP client
    // with undici, and with them Node's http, https, http2, tls and zlib, at every start.
    const dir = mkdtempSync(join(tmpdir(), 'node24-'))
    const hook = join(dir, 'modules.cjs')
    const loaded = join(dir, 'modules')
    writeFileSync(
      hook,
      `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(loaded)}, process.moduleLoadList.join('\\n')))\n`
    )
    const run = await runAction(
      EXAMPLE,
      { NODE_OPTIONS: `--require ${hook}`, ...(await checkout()) },
      {},
      { node: node24Path() }
    )
    expect(run.outputs.status).toBe('planned')
    const builtins = readFileSync(loaded, 'utf8').split('\n')
    expect(builtins).toContain('NativeModule child_process')
    expect(builtins.filter(m => /^NativeModule (_?http\w*|https|http2|tls|zlib)$/.test(m))).toEqual(
      []
    )
  })
})
