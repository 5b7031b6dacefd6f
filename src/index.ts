/**
 * The action's entry: runs the rollback (src/main.ts) with the runner commands of `@actions/core`
 * (runner/actions-core.ts) and fails the step if it never finished.
 */
import { reportUnfinished, run } from './main.js'
import * as runner from './runner/actions-core.js'
import { untilFinished } from './util/exit-guard.js'

await untilFinished(
  () => run(runner),
  () => reportUnfinished(runner)
)
