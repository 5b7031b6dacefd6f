/**
 * Refused inputs for the generated refusal suites (through rollback() and through the CLI): a
 * runbook that plans cleanly, and generated cases each of which changes one thing so that the run
 * must be refused, naming the fields it must name.
 */
import fc from 'fast-check'
import { queryRows } from './postgres.js'

export type Runbook = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

/** A runbook that plans cleanly: every refusal below comes from the one thing a case changed. */
export function base(vercelUrl: string): Runbook {
  return {
    version: 1,
    name: 'generated',
    hosting: {
      provider: 'vercel',
      project: 'outline-app',
      'api-url': vercelUrl,
      'token-env': 'VERCEL_TOKEN'
    },
    flags: {
      set: { NEXT_PUBLIC_USE_STREAMING: 'false' },
      targets: ['production'],
      redeploy: false
    },
    database: {
      'url-env': 'DATABASE_URL',
      steps: [
        {
          name: 'reset stuck sessions',
          'batch-update': {
            table: 'outline_sessions',
            key: 'id',
            set: { is_active: 'false' },
            where: "status = 'error'"
          }
        }
      ]
    },
    git: { remote: 'origin', branch: 'main', strategy: 'revert', 'revert-mode': 'single' }
  }
}

export interface Case {
  label: string
  mutate(runbook: Runbook): void
  inputs?: Record<string, string>
  /** The fields the refusal must name, one line each. */
  fields: string[]
}

const batch = (r: Runbook) => r.database.steps[0]['batch-update']
const word = (min: number, max: number) => fc.stringMatching(new RegExp(`^[a-z]{${min},${max}}$`))

/** Expressions that only parse by escaping their field (each is more than one expression). */
const whereEscape = fc
  .tuple(
    fc.constantFrom("status = 'error'", 'is_active', 'true'),
    fc.constantFrom(') OR (true', '); DELETE FROM outline_sessions; --', ') OR 1=1 OR (')
  )
  .map(([expr, tail]): Case => ({
    label: `where ${expr}${tail}`,
    mutate: r => (batch(r).where = `${expr}${tail}`),
    fields: ['database.steps[0].batch-update.where']
  }))

const unknownColumn = word(3, 12).map((name): Case => ({
  label: `set zz_${name}`,
  mutate: r => (batch(r).set = { [`zz_${name}`]: 'false' }),
  fields: ['database.steps[0].batch-update.set']
}))

const smuggledAssignment = fc
  .constantFrom('error_message', 'status', 'updated_at')
  .map((column): Case => ({
    label: `set value writing ${column}`,
    mutate: r => (batch(r).set = { is_active: `false), ${column} = ('x'` }),
    fields: ['database.steps[0].batch-update.set.is_active']
  }))

const unknownKeys = fc
  .uniqueArray(word(3, 10), { minLength: 1, maxLength: 3 })
  .map((names): Case => ({
    label: `unknown keys ${names.join(',')}`,
    mutate: r => names.forEach(n => (r[`x_${n}`] = 1)),
    fields: names.map(n => `x_${n}`)
  }))

const missingCommit = fc.stringMatching(/^[0-9a-f]{40}$/).map((sha): Case => ({
  label: `revert ${sha}`,
  mutate: () => {},
  inputs: { revert: sha },
  fields: ['revert']
}))

const setByAnotherName = fc
  .constantFrom(
    "SELECT set_config('statement_timeout', '0', false)",
    'SET statement_timeout = 0',
    "select SET_CONFIG('lock_timeout', '0', true)"
  )
  .map((sql): Case => ({
    label: sql,
    mutate: r => (r.database.steps = [{ name: 'tune', sql }]),
    fields: ['database.steps[0].sql']
  }))

const nulInValue = fc
  .tuple(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }))
  .map(([a, b]): Case => ({
    label: 'NUL in a flag value',
    mutate: r => (r.flags.set.NEXT_PUBLIC_USE_STREAMING = `${a}\u0000${b}`),
    fields: ['flags.set.NEXT_PUBLIC_USE_STREAMING']
  }))

const unknownSeverity = word(3, 8)
  .filter(s => !['critical', 'high', 'medium', 'low'].includes(s))
  .map((severity): Case => ({
    label: `severity ${severity}`,
    mutate: () => {},
    inputs: { severity },
    fields: ['severity']
  }))

export const refusalCases = fc.oneof(
  whereEscape,
  unknownColumn,
  smuggledAssignment,
  unknownKeys,
  missingCommit,
  setByAnotherName,
  nulInValue,
  unknownSeverity
)

/** A checksum of the seeded table: any write changes it. */
export async function tableChecksum(dbUrl: string): Promise<string> {
  const [row] = await queryRows<{ sum: string }>(
    dbUrl,
    "SELECT md5(string_agg(t::text, '|' ORDER BY id)) AS sum FROM outline_sessions t"
  )
  return row!.sum
}
