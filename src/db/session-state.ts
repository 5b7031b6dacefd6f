/**
 * What runbook SQL may not do: change the state of the session, the role, the transaction or the
 * server behind the engine's back. The engine sets lock_timeout/statement_timeout, holds the
 * run's advisory lock and decides where transactions begin and end; SQL that changes any of that
 * (SET and every equivalent: set_config(), UPDATE pg_settings, advisory lock calls, ...) would
 * silently remove a safety rule. Used for sql steps and for batch-update expressions alike.
 */

type Node = Record<string, unknown>

/** Statement kinds (parser node names) that change session, role, transaction or server state. */
const STATEMENTS: Record<string, string> = {
  VariableSetStmt:
    'SET would override the engine’s lock_timeout/statement_timeout: use database.lock-timeout and database.statement-timeout in the runbook',
  DiscardStmt: 'DISCARD resets the engine’s session (timeouts, advisory lock state)',
  AlterSystemStmt: 'ALTER SYSTEM changes the server configuration: not a cleanup step',
  AlterRoleSetStmt: 'ALTER ROLE ... SET changes settings of future sessions: not a cleanup step',
  AlterDatabaseSetStmt:
    'ALTER DATABASE ... SET changes settings of future sessions: not a cleanup step',
  LoadStmt: 'LOAD loads a shared library into the session: not a cleanup step',
  PrepareStmt: 'PREPARE leaves state in the session: write the statement itself',
  ExecuteStmt: 'EXECUTE runs a prepared statement the engine cannot classify',
  DeallocateStmt: 'DEALLOCATE changes the session’s prepared statements',
  DeclareCursorStmt: 'cursors leave state in the session: write plain statements',
  FetchStmt: 'cursors leave state in the session: write plain statements',
  ClosePortalStmt: 'cursors leave state in the session: write plain statements',
  ListenStmt: 'LISTEN leaves state in the session',
  UnlistenStmt: 'UNLISTEN changes the session’s state'
}

/** Functions that change session/transaction/server state or run SQL the engine never sees. */
const FUNCTIONS: Record<string, string> = {
  set_config: 'it is SET by another name (it would override the engine’s timeouts)',
  pg_advisory_lock: 'advisory locks are the engine’s (one runner per database)',
  pg_advisory_lock_shared: 'advisory locks are the engine’s (one runner per database)',
  pg_try_advisory_lock: 'advisory locks are the engine’s (one runner per database)',
  pg_try_advisory_lock_shared: 'advisory locks are the engine’s (one runner per database)',
  pg_advisory_xact_lock: 'advisory locks are the engine’s (one runner per database)',
  pg_advisory_xact_lock_shared: 'advisory locks are the engine’s (one runner per database)',
  pg_try_advisory_xact_lock: 'advisory locks are the engine’s (one runner per database)',
  pg_try_advisory_xact_lock_shared: 'advisory locks are the engine’s (one runner per database)',
  pg_advisory_unlock: 'would release the engine’s advisory lock (one runner per database)',
  pg_advisory_unlock_shared: 'would release the engine’s advisory lock (one runner per database)',
  pg_advisory_unlock_all: 'would release the engine’s advisory lock (one runner per database)',
  pg_terminate_backend: 'ends sessions (possibly the engine’s own): do it by hand if needed',
  pg_cancel_backend: 'cancels sessions (possibly the engine’s own): do it by hand if needed',
  pg_reload_conf: 'reloads the server configuration: not a cleanup step',
  dblink: 'runs SQL on another connection the engine cannot classify',
  dblink_exec: 'runs SQL on another connection the engine cannot classify',
  dblink_connect: 'opens another connection the engine cannot classify',
  query_to_xml: 'runs an SQL string the engine cannot classify',
  query_to_xmlschema: 'runs an SQL string the engine cannot classify',
  query_to_xml_and_xmlschema: 'runs an SQL string the engine cannot classify',
  cursor_to_xml: 'reads a cursor (session state)',
  ts_stat: 'runs an SQL string the engine cannot classify'
}

/** Catalog views whose UPDATE is SET by another name. */
const SETTING_RELATIONS = new Set(['pg_settings', 'pg_catalog.pg_settings'])

function funcName(call: Node): string {
  const parts = (call.funcname as { String?: { sval?: string } }[] | undefined) ?? []
  return parts[parts.length - 1]?.String?.sval ?? ''
}

function relation(rangeVar: unknown): string {
  const rv = rangeVar as { schemaname?: string; relname?: string } | undefined
  return rv?.schemaname ? `${rv.schemaname}.${rv.relname}` : (rv?.relname ?? '')
}

/** The first function call anywhere in the tree that changes session state, with the reason. */
function forbiddenCall(tree: unknown): string | undefined {
  const pending: unknown[] = [tree]
  while (pending.length > 0) {
    const node = pending.pop()
    if (Array.isArray(node)) pending.push(...(node as unknown[]))
    else if (node && typeof node === 'object') {
      const call = (node as Node).FuncCall as Node | undefined
      const name = call ? funcName(call) : ''
      if (name in FUNCTIONS) return `${name}(): ${FUNCTIONS[name]}`
      pending.push(...Object.values(node))
    }
  }
  return undefined
}

/**
 * Why a parsed statement or expression (a libpg-query node) changes state behind the engine's
 * back, or undefined. `kind` is the statement's node name when `tree` is a statement's body.
 */
export function sessionStateChange(tree: unknown, kind?: string): string | undefined {
  if (kind && kind in STATEMENTS) return STATEMENTS[kind]
  if (kind === 'UpdateStmt' && SETTING_RELATIONS.has(relation((tree as Node).relation))) {
    return 'UPDATE pg_settings is SET by another name (it would override the engine’s timeouts)'
  }
  return forbiddenCall(tree)
}
