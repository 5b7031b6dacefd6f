/**
 * Splits runbook SQL with the real PostgreSQL parser (libpg-query, WASM) and classifies each
 * statement: the lock it takes, whether it must run outside a transaction (CONCURRENTLY, VACUUM),
 * whether it needs the lock_timeout ladder, and whether it is refused (with the reason).
 *
 * The parser is loaded lazily (see pg-parser.ts) so runs without SQL never pay for the WASM.
 */
import { RollbackError } from '../util/errors.js'
import { parseSql, SqlParseError } from './pg-parser.js'

export type LockLevel =
  | 'none'
  | 'ACCESS SHARE'
  | 'ROW SHARE'
  | 'ROW EXCLUSIVE'
  | 'SHARE UPDATE EXCLUSIVE'
  | 'SHARE'
  | 'SHARE ROW EXCLUSIVE'
  | 'EXCLUSIVE'
  | 'ACCESS EXCLUSIVE'

export interface ClassifiedStatement {
  /** The statement's own text (no trailing semicolon). */
  sql: string
  /** Parser node type, e.g. DropStmt, AlterTableStmt. */
  kind: string
  /** Short human label, e.g. "DROP INDEX CONCURRENTLY". */
  label: string
  /** Strongest table-level lock the statement takes. */
  lock: LockLevel
  /** Tables/indexes the statement targets (as written). */
  targets: string[]
  /** false: cannot run inside a transaction block (sent alone, never in a drill transaction). */
  transactional: boolean
  /** Takes a lock that blocks the app's reads or writes: run under the lock_timeout ladder. */
  needsLadder: boolean
  readOnly: boolean
  /** Columns an ALTER TABLE drops. */
  droppedColumns: string[]
  /** Why the engine refuses to run it (undefined = allowed). */
  rejected?: string
  warnings: string[]
}

type Node = Record<string, unknown>
interface ParsedStmt {
  stmt?: Node
  stmt_location?: number
  stmt_len?: number
}

/** Parses and classifies; throws RollbackError with the parser's message on a syntax error. */
export async function classifySql(sql: string): Promise<ClassifiedStatement[]> {
  let result: { stmts?: ParsedStmt[] }
  try {
    result = (await parseSql(sql)) as { stmts?: ParsedStmt[] }
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    const cursor = err instanceof SqlParseError ? err.cursorPosition : undefined
    const near = cursor !== undefined ? ` near "${sql.slice(cursor, cursor + 30).trim()}"` : ''
    throw new RollbackError(`SQL does not parse: ${message}${near}`, 'fix the SQL in the runbook')
  }
  const out: ClassifiedStatement[] = []
  for (const raw of result.stmts ?? []) {
    const start = raw.stmt_location ?? 0
    const text = (raw.stmt_len === undefined ? sql.slice(start) : sql.substr(start, raw.stmt_len))
      .trim()
      .replace(/;\s*$/, '')
    if (!text || !raw.stmt) continue
    out.push(classifyNode(raw.stmt, text))
  }
  return out
}

function relName(rangeVar: unknown): string {
  const rv = rangeVar as { schemaname?: string; relname?: string } | undefined
  if (!rv?.relname) return '?'
  return rv.schemaname ? `${rv.schemaname}.${rv.relname}` : rv.relname
}

function objectNames(objects: unknown): string[] {
  return ((objects as Node[] | undefined) ?? []).map(o => {
    const items = ((o.List as { items?: Node[] } | undefined)?.items ?? []) as {
      String?: { sval: string }
    }[]
    return items.map(i => i.String?.sval ?? '?').join('.')
  })
}

function base(kind: string, sql: string): ClassifiedStatement {
  return {
    sql,
    kind,
    label: kind.replace(/Stmt$/, '').toUpperCase(),
    lock: 'ACCESS EXCLUSIVE',
    targets: [],
    transactional: true,
    needsLadder: true,
    readOnly: false,
    droppedColumns: [],
    warnings: []
  }
}

// ALTER TABLE subcommands that take less than ACCESS EXCLUSIVE (PostgreSQL docs, ALTER TABLE).
const ALTER_LOCKS: Record<string, LockLevel> = {
  AT_SetStatistics: 'SHARE UPDATE EXCLUSIVE',
  AT_ClusterOn: 'SHARE UPDATE EXCLUSIVE',
  AT_DropCluster: 'SHARE UPDATE EXCLUSIVE',
  AT_SetRelOptions: 'SHARE UPDATE EXCLUSIVE',
  AT_ResetRelOptions: 'SHARE UPDATE EXCLUSIVE',
  AT_ValidateConstraint: 'SHARE UPDATE EXCLUSIVE',
  AT_AddIndexConstraint: 'SHARE UPDATE EXCLUSIVE'
}
const LOCK_ORDER: LockLevel[] = [
  'none',
  'ACCESS SHARE',
  'ROW SHARE',
  'ROW EXCLUSIVE',
  'SHARE UPDATE EXCLUSIVE',
  'SHARE',
  'SHARE ROW EXCLUSIVE',
  'EXCLUSIVE',
  'ACCESS EXCLUSIVE'
]

export function classifyNode(stmt: Node, sql: string): ClassifiedStatement {
  const [kind, body] = Object.entries(stmt)[0] as [string, Node]
  const c = base(kind, sql)
  switch (kind) {
    case 'SelectStmt': {
      c.label = 'SELECT'
      c.lock = 'ACCESS SHARE'
      c.needsLadder = false
      c.readOnly = !body.intoClause && !body.lockingClause
      if (body.intoClause) c.label = 'SELECT INTO'
      if (body.lockingClause) {
        c.lock = 'ROW SHARE'
        c.rejected = 'SELECT ... FOR UPDATE/SHARE holds row locks: not a cleanup step'
      }
      return c
    }
    case 'ExplainStmt':
      return { ...c, label: 'EXPLAIN', lock: 'ACCESS SHARE', needsLadder: false, readOnly: true }
    case 'CreateTableAsStmt': {
      c.label = 'CREATE TABLE AS'
      c.lock = 'ACCESS SHARE'
      c.needsLadder = false
      c.targets = [relName((body.into as Node | undefined)?.rel)]
      return c
    }
    case 'InsertStmt':
    case 'UpdateStmt':
    case 'DeleteStmt':
    case 'MergeStmt': {
      c.label = kind.replace(/Stmt$/, '').toUpperCase()
      c.lock = 'ROW EXCLUSIVE'
      c.needsLadder = true
      c.targets = [relName(body.relation)]
      if ((kind === 'UpdateStmt' || kind === 'DeleteStmt') && !body.whereClause) {
        c.rejected = `${c.label} without WHERE touches every row of ${c.targets[0]} in one transaction: use a batch-update step (or add a WHERE)`
      } else if (kind !== 'InsertStmt') {
        c.warnings.push(
          `${c.label} runs as one transaction: for many rows prefer a batch-update step (batches by primary key)`
        )
      }
      return c
    }
    case 'DropStmt': {
      const removeType = String(body.removeType ?? '')
      const names = objectNames(body.objects)
      c.targets = names
      const what = removeType.replace(/^OBJECT_/, '').replace(/_/g, ' ')
      c.label = `DROP ${what}${body.concurrent ? ' CONCURRENTLY' : ''}`
      if (removeType === 'OBJECT_INDEX') {
        if (body.concurrent) {
          c.lock = 'SHARE UPDATE EXCLUSIVE'
          c.transactional = false
          c.needsLadder = true
          if (names.length !== 1) {
            c.rejected =
              'DROP INDEX CONCURRENTLY takes exactly one index (the server rejects a list): one statement per index'
          }
          if (body.behavior === 'DROP_CASCADE') {
            c.rejected = 'DROP INDEX CONCURRENTLY does not support CASCADE'
          }
        } else {
          c.rejected = `plain DROP INDEX takes ACCESS EXCLUSIVE on the table and queues the app behind any reader: use DROP INDEX CONCURRENTLY IF EXISTS (or a drop-index step)`
        }
      } else if (['OBJECT_TABLE', 'OBJECT_MATVIEW'].includes(removeType)) {
        c.warnings.push(`drops ${names.join(', ')} and its data without a backup`)
      } else if (['OBJECT_VIEW', 'OBJECT_FUNCTION', 'OBJECT_TRIGGER'].includes(removeType)) {
        c.lock = removeType === 'OBJECT_TRIGGER' ? 'SHARE ROW EXCLUSIVE' : 'ACCESS EXCLUSIVE'
      }
      if (!body.missing_ok && removeType !== 'OBJECT_TRIGGER') {
        c.warnings.push('add IF EXISTS so a rerun converges')
      }
      return c
    }
    case 'AlterTableStmt': {
      c.label = 'ALTER TABLE'
      c.targets = [relName(body.relation)]
      const cmds = ((body.cmds as Node[] | undefined) ?? []).map(
        n => n.AlterTableCmd as { subtype: string; name?: string; missing_ok?: boolean }
      )
      let lock: LockLevel = 'none'
      for (const cmd of cmds) {
        const l = ALTER_LOCKS[cmd.subtype] ?? 'ACCESS EXCLUSIVE'
        if (LOCK_ORDER.indexOf(l) > LOCK_ORDER.indexOf(lock)) lock = l
        if (cmd.subtype === 'AT_DropColumn' && cmd.name) {
          c.droppedColumns.push(cmd.name)
          if (!cmd.missing_ok) c.warnings.push(`DROP COLUMN ${cmd.name}: add IF EXISTS`)
        }
        if (cmd.subtype === 'AT_AlterColumnType') {
          c.rejected =
            'ALTER COLUMN TYPE may rewrite the whole table under ACCESS EXCLUSIVE: not done during a rollback'
        }
      }
      c.lock = lock
      if (c.droppedColumns.length > 0) {
        c.label = 'ALTER TABLE DROP COLUMN'
        c.warnings.push(
          'column data is not backed up by a sql step: use a schema step (copies the data first)'
        )
      }
      return c
    }
    case 'IndexStmt': {
      c.targets = [relName(body.relation)]
      if (body.concurrent) {
        c.label = 'CREATE INDEX CONCURRENTLY'
        c.lock = 'SHARE UPDATE EXCLUSIVE'
        c.transactional = false
        c.warnings.push('a failed CREATE INDEX CONCURRENTLY leaves an INVALID index to drop')
      } else {
        c.label = 'CREATE INDEX'
        c.lock = 'SHARE'
        c.rejected = 'CREATE INDEX blocks all writes while it builds: use CREATE INDEX CONCURRENTLY'
      }
      return c
    }
    case 'ReindexStmt': {
      const concurrent = ((body.params as Node[] | undefined) ?? []).some(
        p => (p.DefElem as { defname?: string } | undefined)?.defname === 'concurrently'
      )
      c.targets = [relName(body.relation)]
      if (concurrent) {
        c.label = 'REINDEX CONCURRENTLY'
        c.lock = 'SHARE UPDATE EXCLUSIVE'
        c.transactional = false
      } else {
        c.label = 'REINDEX'
        c.rejected = 'REINDEX blocks writes (and reads using the index): use REINDEX CONCURRENTLY'
      }
      return c
    }
    case 'VacuumStmt': {
      const full = ((body.options as Node[] | undefined) ?? []).some(
        p => (p.DefElem as { defname?: string } | undefined)?.defname === 'full'
      )
      c.label = body.is_vacuumcmd ? 'VACUUM' : 'ANALYZE'
      c.lock = 'SHARE UPDATE EXCLUSIVE'
      c.transactional = !body.is_vacuumcmd
      c.needsLadder = false
      if (full) c.rejected = 'VACUUM FULL rewrites the table under ACCESS EXCLUSIVE'
      return c
    }
    case 'TruncateStmt':
      c.label = 'TRUNCATE'
      c.targets = objectNamesFromRangeVars(body.relations)
      c.warnings.push('TRUNCATE removes every row without a backup')
      return c
    case 'TransactionStmt':
      c.label = String(body.kind ?? 'TRANSACTION').replace(/^TRANS_STMT_/, '')
      c.lock = 'none'
      c.needsLadder = false
      c.rejected =
        'transaction control is the engine’s job (each statement runs on its own; drills roll back): remove BEGIN/COMMIT/ROLLBACK'
      return c
    case 'VariableSetStmt':
    case 'VariableShowStmt':
      c.label = kind === 'VariableSetStmt' ? 'SET' : 'SHOW'
      c.lock = 'none'
      c.needsLadder = false
      if (kind === 'VariableSetStmt') {
        c.rejected =
          'SET would override the engine’s lock_timeout/statement_timeout: use database.lock-timeout and database.statement-timeout in the runbook'
      } else c.readOnly = true
      return c
    case 'LockStmt':
      c.label = 'LOCK TABLE'
      c.rejected = 'explicit LOCK TABLE is held until commit: not allowed in runbook SQL'
      return c
    case 'DoStmt':
    case 'CallStmt':
      c.label = kind === 'DoStmt' ? 'DO' : 'CALL'
      c.rejected = `${c.label} runs code the engine cannot classify (locks, transactions): write plain statements`
      return c
    case 'CopyStmt':
      c.label = 'COPY'
      c.rejected = 'COPY is not supported in runbook SQL'
      return c
    case 'ClusterStmt':
      c.label = 'CLUSTER'
      c.rejected = 'CLUSTER rewrites the table under ACCESS EXCLUSIVE'
      return c
    case 'CreateStmt':
      c.label = 'CREATE TABLE'
      c.lock = 'none'
      c.needsLadder = false
      return c
    default:
      c.warnings.push(`statement kind ${kind} is not classified: run with the lock ladder`)
      return c
  }
}

function objectNamesFromRangeVars(relations: unknown): string[] {
  return ((relations as Node[] | undefined) ?? []).map(r => relName(r.RangeVar))
}

/** One line for plans and reports: "<sql> — <lock>, <where it runs>". */
export function describeStatement(s: ClassifiedStatement): string {
  const where = s.transactional ? 'own transaction' : 'alone, outside any transaction'
  const ladder = s.needsLadder ? ', lock_timeout ladder' : ''
  const oneLine = s.sql.replace(/\s+/g, ' ')
  const short = oneLine.length > 160 ? `${oneLine.slice(0, 157)}...` : oneLine
  return `${short} — ${s.lock} lock${s.targets.length ? ` on ${s.targets.join(', ')}` : ''}; ${where}${ladder}`
}
