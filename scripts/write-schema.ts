/**
 * npm run schema: after changing src/runbook/schema.ts, regenerate the published JSON Schema and
 * the run-time validator generated from it.
 */
import { writeFileSync } from 'node:fs'
import { JSON_SCHEMA_PATH, runbookJsonSchema } from './runbook-json-schema.js'
import {
  runbookValidatorSource,
  VALIDATOR_PATH,
  VALIDATOR_TYPES,
  VALIDATOR_TYPES_PATH
} from './runbook-validator.js'

const jsonSchema = runbookJsonSchema()
writeFileSync(JSON_SCHEMA_PATH, jsonSchema)
writeFileSync(VALIDATOR_PATH, runbookValidatorSource(jsonSchema))
writeFileSync(VALIDATOR_TYPES_PATH, VALIDATOR_TYPES)
console.log(`wrote ${JSON_SCHEMA_PATH}, ${VALIDATOR_PATH} and ${VALIDATOR_TYPES_PATH}`)
