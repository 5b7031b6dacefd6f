/**
 * Splits runbook SQL with the real PostgreSQL parser (libpg-query, WASM) and classifies each
 * statement: the lock it takes, whether it must run outside a transaction (CONCURRENTLY, VACUUM),
 * whether it needs the lock_timeout ladder, and whether it is refused (with the reason).
 *
 * The parser is loaded lazily (see pg-parser.ts) so runs without SQL never pay for the WASM.
 */
import { RollbackError } from '../util/errors.js'
import { parseSql, SqlParseError } from './pg-parser.js'
import { sessionStateChange } from './session-state.js'
import { LOCK_LEVELS, type LockLevel } from './lock-modes.js'

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
  /**
   * The relations whose locks the statement's lock request queues behind, when they are not the
   * targets: a trigger's, rule's or policy's table. An index stands for its table (resolved by
   * the server when the road is checked).
   */
  lockedRelations?: string[]
  /**
   * A CONCURRENTLY index build, rebuild or drop: before it finishes it waits for every
   * transaction that holds a lock on the table, readers too. The app never queues behind those waits, but a lock_timeout that ends one
   * leaves an INVALID index behind.
   */
  waitsForEveryTransaction?: boolean
  /** A CONCURRENTLY build or rebuild also waits for every older snapshot in the database. */
  waitsForOlderSnapshots?: boolean
  /** false: cannot run inside a transaction block (sent alone, never in a drill transaction). */
  transactional: boolean
  /** Takes a lock that blocks the app's reads or writes: run under the lock_timeout ladder. */
  needsLadder: boolean
  readOnly: boolean
  /** Columns an ALTER TABLE drops. */
  droppedColumns: string[]
  /**
   * Set when the statement destroys data that nothing keeps (TRUNCATE, DROP TABLE, DROP COLUMN):
   * the plan says so, and `run` requires `acknowledge-data-loss: true` on the step.
   */
  destroysData?: string
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

function objectParts(objects: unknown): string[][] {
  return ((objects as Node[] | undefined) ?? []).map(o => {
    // DROP SCHEMA/DATABASE name plain strings; other objects are (schema-qualified) lists.
    const plain = (o.String as { sval?: string } | undefined)?.sval
    if (plain !== undefined) return [plain]
    const items = ((o.List as { items?: Node[] } | undefined)?.items ?? []) as {
      String?: { sval: string }
    }[]
    return items.map(i => i.String?.sval ?? '?')
  })
}

function objectNames(objects: unknown): string[] {
  return objectParts(objects).map(parts => parts.join('.'))
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

type Handler = (c: ClassifiedStatement, body: Node, kind: string) => void

/** Lets the app read and write meanwhile: no lock ladder. */
function noLadder(c: ClassifiedStatement, lock: LockLevel): void {
  c.lock = lock
  c.needsLadder = false
}

function selectStmt(c: ClassifiedStatement, body: Node): void {
  noLadder(c, 'ACCESS SHARE')
  c.label = body.intoClause ? 'SELECT INTO' : 'SELECT'
  c.readOnly = !body.intoClause && !body.lockingClause
  if (body.lockingClause) {
    c.lock = 'ROW SHARE'
    c.rejected = 'SELECT ... FOR UPDATE/SHARE holds row locks: not a cleanup step'
  }
}

function explainStmt(c: ClassifiedStatement): void {
  noLadder(c, 'ACCESS SHARE')
  c.label = 'EXPLAIN'
  c.readOnly = true
}

function createTableAs(c: ClassifiedStatement, body: Node): void {
  noLadder(c, 'ACCESS SHARE')
  c.label = 'CREATE TABLE AS'
  c.targets = [relName((body.into as Node | undefined)?.rel)]
}

function dml(c: ClassifiedStatement, body: Node, kind: string): void {
  c.lock = 'ROW EXCLUSIVE'
  c.targets = [relName(body.relation)]
  const unbounded = (kind === 'UpdateStmt' || kind === 'DeleteStmt') && !body.whereClause
  if (unbounded) {
    c.rejected = `${c.label} without WHERE touches every row of ${c.targets[0]} in one transaction: use a batch-update step (or add a WHERE)`
  } else if (kind !== 'InsertStmt') {
    c.warnings.push(
      `${c.label} runs as one transaction: for many rows prefer a batch-update step (batches by primary key)`
    )
  }
}

function dropIndex(c: ClassifiedStatement, body: Node, names: string[]): void {
  if (!body.concurrent) {
    c.rejected = `plain DROP INDEX takes ACCESS EXCLUSIVE on the table and queues the app behind any reader: use DROP INDEX CONCURRENTLY IF EXISTS (or a drop-index step)`
    return
  }
  c.lock = 'SHARE UPDATE EXCLUSIVE'
  c.transactional = false
  c.waitsForEveryTransaction = true
  if (names.length !== 1) {
    c.rejected =
      'DROP INDEX CONCURRENTLY takes exactly one index (the server rejects a list): one statement per index'
  }
  if (body.behavior === 'DROP_CASCADE')
    c.rejected = 'DROP INDEX CONCURRENTLY does not support CASCADE'
}

/** Objects named `table.object` whose drop locks their table. */
const TABLE_OBJECTS = ['OBJECT_TRIGGER', 'OBJECT_RULE', 'OBJECT_POLICY']

/** DROP of objects that hold rows: the data is gone, nothing keeps it. */
const DATA_OBJECTS = ['OBJECT_TABLE', 'OBJECT_MATVIEW', 'OBJECT_SCHEMA', 'OBJECT_SEQUENCE']

function dropStmt(c: ClassifiedStatement, body: Node): void {
  const removeType = String(body.removeType ?? '')
  const names = objectNames(body.objects)
  c.targets = names
  c.label = `DROP ${removeType.replace(/^OBJECT_/, '').replace(/_/g, ' ')}${body.concurrent ? ' CONCURRENTLY' : ''}`
  if (removeType === 'OBJECT_INDEX') dropIndex(c, body, names)
  if (DATA_OBJECTS.includes(removeType) || body.behavior === 'DROP_CASCADE') {
    c.destroysData = `${c.label} ${names.join(', ')}${body.behavior === 'DROP_CASCADE' ? ' CASCADE' : ''} destroys data without a backup`
    c.warnings.push(c.destroysData)
  }
  if (removeType === 'OBJECT_TRIGGER') c.lock = 'SHARE ROW EXCLUSIVE'
  if (TABLE_OBJECTS.includes(removeType))
    c.lockedRelations = objectParts(body.objects).map(parts => parts.slice(0, -1).join('.'))
  if (!body.missing_ok && removeType !== 'OBJECT_TRIGGER') {
    c.warnings.push('add IF EXISTS so a rerun converges')
  }
}

function alterTable(c: ClassifiedStatement, body: Node): void {
  c.label = 'ALTER TABLE'
  c.targets = [relName(body.relation)]
  const cmds = ((body.cmds as Node[] | undefined) ?? []).map(
    n => n.AlterTableCmd as { subtype: string; name?: string; missing_ok?: boolean }
  )
  c.lock = 'none'
  for (const cmd of cmds) {
    const l = ALTER_LOCKS[cmd.subtype] ?? 'ACCESS EXCLUSIVE'
    if (LOCK_LEVELS.indexOf(l) > LOCK_LEVELS.indexOf(c.lock)) c.lock = l
    if (cmd.subtype === 'AT_DropColumn' && cmd.name) {
      c.droppedColumns.push(cmd.name)
      if (!cmd.missing_ok) c.warnings.push(`DROP COLUMN ${cmd.name}: add IF EXISTS`)
    }
    if (cmd.subtype === 'AT_AlterColumnType') {
      c.rejected =
        'ALTER COLUMN TYPE may rewrite the whole table under ACCESS EXCLUSIVE: not done during a rollback'
    }
  }
  if (c.droppedColumns.length > 0) {
    c.label = 'ALTER TABLE DROP COLUMN'
    c.destroysData = `DROP COLUMN ${c.droppedColumns.join(', ')} of ${c.targets[0]} destroys the column data without a backup (a schema step copies it first)`
    c.warnings.push(c.destroysData)
  }
}

function indexStmt(c: ClassifiedStatement, body: Node): void {
  c.targets = [relName(body.relation)]
  if (!body.concurrent) {
    c.label = 'CREATE INDEX'
    c.lock = 'SHARE'
    c.rejected = 'CREATE INDEX blocks all writes while it builds: use CREATE INDEX CONCURRENTLY'
    return
  }
  c.label = 'CREATE INDEX CONCURRENTLY'
  c.lock = 'SHARE UPDATE EXCLUSIVE'
  c.transactional = false
  c.waitsForEveryTransaction = true
  c.waitsForOlderSnapshots = true
  c.warnings.push('a failed CREATE INDEX CONCURRENTLY leaves an INVALID index to drop')
}

function hasOption(options: unknown, name: string): boolean {
  return ((options as Node[] | undefined) ?? []).some(
    p => (p.DefElem as { defname?: string } | undefined)?.defname === name
  )
}

function reindexStmt(c: ClassifiedStatement, body: Node): void {
  c.targets = [relName(body.relation)]
  if (!hasOption(body.params, 'concurrently')) {
    c.label = 'REINDEX'
    c.rejected = 'REINDEX blocks writes (and reads using the index): use REINDEX CONCURRENTLY'
    return
  }
  c.label = 'REINDEX CONCURRENTLY'
  c.lock = 'SHARE UPDATE EXCLUSIVE'
  c.transactional = false
  c.waitsForEveryTransaction = true
  c.waitsForOlderSnapshots = true
}

function vacuumStmt(c: ClassifiedStatement, body: Node): void {
  noLadder(c, 'SHARE UPDATE EXCLUSIVE')
  c.label = body.is_vacuumcmd ? 'VACUUM' : 'ANALYZE'
  c.transactional = !body.is_vacuumcmd
  if (hasOption(body.options, 'full'))
    c.rejected = 'VACUUM FULL rewrites the table under ACCESS EXCLUSIVE'
}

function truncateStmt(c: ClassifiedStatement, body: Node): void {
  c.label = 'TRUNCATE'
  c.targets = objectNamesFromRangeVars(body.relations)
  c.destroysData = `TRUNCATE ${c.targets.join(', ')} removes every row without a backup`
  c.warnings.push(c.destroysData)
}

function transactionStmt(c: ClassifiedStatement, body: Node): void {
  noLadder(c, 'none')
  c.label = String(body.kind ?? 'TRANSACTION').replace(/^TRANS_STMT_/, '')
  c.rejected =
    'transaction control is the engine’s job (each statement runs on its own; drills roll back): remove BEGIN/COMMIT/ROLLBACK'
}

function sessionStmt(label: string): Handler {
  return c => {
    noLadder(c, 'none')
    c.label = label
  }
}

function showStmt(c: ClassifiedStatement): void {
  noLadder(c, 'none')
  c.label = 'SHOW'
  c.readOnly = true
}

function refused(label: string, reason: string): Handler {
  return c => {
    c.label = label
    c.rejected = reason
  }
}

function createStmt(c: ClassifiedStatement): void {
  noLadder(c, 'none')
  c.label = 'CREATE TABLE'
}

/** One handler per statement kind; anything else runs with the lock ladder and a warning. */
const HANDLERS: Record<string, Handler> = {
  SelectStmt: selectStmt,
  ExplainStmt: explainStmt,
  CreateTableAsStmt: createTableAs,
  InsertStmt: dml,
  UpdateStmt: dml,
  DeleteStmt: dml,
  MergeStmt: dml,
  DropStmt: dropStmt,
  AlterTableStmt: alterTable,
  IndexStmt: indexStmt,
  ReindexStmt: reindexStmt,
  VacuumStmt: vacuumStmt,
  TruncateStmt: truncateStmt,
  TransactionStmt: transactionStmt,
  VariableSetStmt: sessionStmt('SET'),
  VariableShowStmt: showStmt,
  LockStmt: refused(
    'LOCK TABLE',
    'explicit LOCK TABLE is held until commit: not allowed in runbook SQL'
  ),
  DoStmt: refused(
    'DO',
    'DO runs code the engine cannot classify (locks, transactions): write plain statements'
  ),
  CallStmt: refused(
    'CALL',
    'CALL runs code the engine cannot classify (locks, transactions): write plain statements'
  ),
  CopyStmt: refused('COPY', 'COPY is not supported in runbook SQL'),
  ClusterStmt: refused('CLUSTER', 'CLUSTER rewrites the table under ACCESS EXCLUSIVE'),
  DropdbStmt: refused('DROP DATABASE', 'DROP DATABASE is not a cleanup step'),
  DropOwnedStmt: refused(
    'DROP OWNED',
    'DROP OWNED drops every object of a role: not a cleanup step'
  ),
  CreateStmt: createStmt
}

function unclassified(c: ClassifiedStatement, _body: Node, kind: string): void {
  c.warnings.push(`statement kind ${kind} is not classified: run with the lock ladder`)
}

export function classifyNode(stmt: Node, sql: string): ClassifiedStatement {
  const [kind, body] = Object.entries(stmt)[0] as [string, Node]
  const c = base(kind, sql)
  ;(HANDLERS[kind] ?? unclassified)(c, body, kind)
  // Session, role, transaction or server state changed behind the engine's back (SET and its
  // equivalents, wherever they hide in the statement): refused whatever the kind.
  c.rejected ??= sessionStateChange(body, kind)
  return c
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
