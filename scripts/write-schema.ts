/** npm run schema: regenerate schema/runbook.schema.json after changing src/runbook/schema.ts. */
import { writeFileSync } from 'node:fs'
import { JSON_SCHEMA_PATH, runbookJsonSchema } from './runbook-json-schema.js'

writeFileSync(JSON_SCHEMA_PATH, runbookJsonSchema())
console.log(`wrote ${JSON_SCHEMA_PATH}`)
