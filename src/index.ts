/** The action's entry: runs the rollback (src/main.ts) and fails the step if it never finished. */
import { reportUnfinished, run } from './main.js'
import { untilFinished } from './util/exit-guard.js'

await untilFinished(run, reportUnfinished)
