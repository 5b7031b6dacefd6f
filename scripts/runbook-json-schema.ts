/** The published JSON Schema of the runbook, generated from the zod schema (one source of truth). */
import { z } from 'zod'
import { runbookSchema } from '../src/runbook/schema.js'

export const JSON_SCHEMA_PATH = 'schema/runbook.schema.json'

export function runbookJsonSchema(): string {
  const schema = z.toJSONSchema(runbookSchema, { io: 'input', unrepresentable: 'any' })
  return (
    JSON.stringify(
      {
        ...schema,
        $id: 'https://github.com/emergency-rollback/emergency-rollback/schema/runbook.schema.json',
        title: 'emergency-rollback runbook (version 1)'
      },
      null,
      2
    ) + '\n'
  )
}
