/**
 * The bundles the tests of dist/ run, built from the current sources (scripts/build.mjs --out) into
 * the test run's temporary directory: once per jest run, shared by the workers, so these tests never
 * run a stale dist/. `.ci/run` sets ER_TEST_BUNDLE_DIR=dist after it has rebuilt dist/ and found it
 * equal to the committed one, which saves CI a second build.
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'

/** Long enough for ncc on a busy 2-core machine; a test waiting for the build gets this too. */
export const BUNDLE_TIMEOUT_MS = 300_000
const POLL_MS = 250

let built: Promise<string> | undefined

/** Directory holding index.js (the action) and cli/index.js (the CLI), built for this run. */
export function builtBundle(): Promise<string> {
  built ??= bundleDir()
  return built
}

async function bundleDir(): Promise<string> {
  const given = process.env.ER_TEST_BUNDLE_DIR
  if (given) return resolve(given)
  const dir = join(tmpdir(), 'emergency-rollback-bundle')
  // mkdir is atomic: the one worker that creates the lock builds, the others wait for its result.
  const lock = `${dir}.lock`
  const claimed = await mkdir(lock).then(
    () => true,
    () => false
  )
  return claimed ? build(dir) : waitForBuild(dir)
}

async function build(dir: string): Promise<string> {
  const staging = `${dir}.staging`
  try {
    await promisify(execFile)(
      process.execPath,
      ['scripts/build.mjs', '--out', staging, '--bundles-only'],
      {
        timeout: BUNDLE_TIMEOUT_MS
      }
    )
    await rename(staging, dir)
    return dir
  } catch (error) {
    const reason = `building the bundle failed: ${(error as Error).message}`
    await writeFile(`${dir}.failed`, reason)
    throw new Error(reason)
  }
}

async function waitForBuild(dir: string): Promise<string> {
  const deadline = Date.now() + BUNDLE_TIMEOUT_MS
  while (Date.now() < deadline) {
    if (existsSync(join(dir, 'cli', 'index.js'))) return dir
    if (existsSync(`${dir}.failed`)) throw new Error(await readFile(`${dir}.failed`, 'utf8'))
    await new Promise(done => setTimeout(done, POLL_MS))
  }
  throw new Error(`the bundle was not built within ${BUNDLE_TIMEOUT_MS / 1000} s`)
}
