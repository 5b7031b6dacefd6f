/**
 * The SQL statement builder: the one place where runbook text becomes SQL that writes.
 *
 * Runbook expressions (a batch-update's `where` and `set` values) are parsed ALONE by the real
 * PostgreSQL parser and must each be exactly one expression node; runbook names become SQL only
 * through `ident()`. A statement is our own template (identifiers quoted, expressions as
 * placeholders) parsed into a tree; the placeholders are replaced by the expressions' trees and the
 * text sent to the server is deparsed from that tree. Before it is used, the text is parsed again
 * and must give the very tree that was built: whatever the runbook holds, the server runs the
 * statement we built, never text that was pasted together.
 */
import { RollbackError } from '../util/errors.js'
import { parseSql } from './pg-parser.js'
import { sessionStateChange } from './session-state.js'

/** A libpg-query expression node, e.g. { A_Expr: {...} }. */
export type ExprNode = Record<string, unknown>

interface ParsedSelect {
  stmts?: { stmt?: { SelectStmt?: Record<string, unknown> } }[]
}

/** SelectStmt fields every `SELECT <expr>` has; anything else means more than an expression. */
const PLAIN_SELECT: Record<string, unknown> = {
  limitOption: 'LIMIT_OPTION_DEFAULT',
  op: 'SETOP_NONE'
}

function notOneExpression(field: string, why: string): RollbackError {
  return new RollbackError(
    `${field} must be exactly one SQL expression (${why})`,
    `fix ${field}: one condition or value, e.g. status = 'error' AND is_active`
  )
}

/** The single expression of a `SELECT <expr>` tree, or why there is not exactly one. */
function soleExpression(parsed: ParsedSelect, field: string): ExprNode {
  const stmts = parsed.stmts ?? []
  if (stmts.length !== 1) throw notOneExpression(field, `it holds ${stmts.length} statements`)
  const select = stmts[0]?.stmt?.SelectStmt
  if (!select) throw notOneExpression(field, 'it is not an expression')
  const { targetList, ...rest } = select
  const extra = Object.keys(rest).filter(k => rest[k] !== PLAIN_SELECT[k])
  if (extra.length > 0) throw notOneExpression(field, `it continues with ${clause(extra[0]!)}`)
  const targets = (targetList as { ResTarget?: { name?: string; val?: ExprNode } }[]) ?? []
  if (targets.length !== 1) throw notOneExpression(field, `it is a list of ${targets.length}`)
  const target = targets[0]!.ResTarget
  if (!target?.val || target.name !== undefined) throw notOneExpression(field, 'it has an alias')
  const star = (target.val.ColumnRef as { fields?: { A_Star?: unknown }[] } | undefined)?.fields
  if (star?.some(f => f.A_Star !== undefined)) throw notOneExpression(field, 'it is a *')
  return target.val
}

function clause(key: string): string {
  return key
    .replace(/Clause$/, '')
    .replace(/([A-Z])/g, ' $1')
    .toUpperCase()
}

/**
 * Parses one runbook expression on its own. Refused, naming the field: anything that is not
 * exactly one expression node (`a) OR (b`, `x, y = z`, `1; DROP ...`, `a FROM t`), and any call
 * that changes session state (set_config(), advisory locks, ...).
 */
export async function parseExpression(text: string, field: string): Promise<ExprNode> {
  let parsed: ParsedSelect
  try {
    parsed = (await parseSql(`SELECT ${text}`)) as ParsedSelect
  } catch (err) {
    // The parser quotes the text near the error: one line, bounded, whatever the runbook holds.
    const raw = err instanceof Error ? err.message : String(err)
    const message = raw.replace(/\s+/g, ' ').slice(0, 160)
    throw new RollbackError(
      `${field} is not a valid SQL expression: ${message}`,
      `fix ${field}: one condition or value, e.g. status = 'error' AND is_active`
    )
  }
  const expr = soleExpression(parsed, field)
  // $1, $2 are the batch's key bounds: an expression must not read (or shift) them.
  if (JSON.stringify(expr).includes('"ParamRef"')) {
    throw notOneExpression(field, 'it uses a $n parameter')
  }
  const change = sessionStateChange(expr)
  if (change) throw new RollbackError(`${field}: refusing ${change}`, `remove it from ${field}`)
  return expr
}

/** Quotes an identifier, optionally schema-qualified ("a.b" -> "a"."b"). The only quoting. */
export function ident(name: string): string {
  return name
    .split('.')
    .map(part => `"${part.replace(/"/g, '""')}"`)
    .join('.')
}

/** The name of a template placeholder: a bare column reference no runbook identifier can shadow. */
export function placeholder(i: number): string {
  return `__rollback_expr_${i}`
}

function placeholderIndex(node: unknown): number | undefined {
  const fields = (node as { ColumnRef?: { fields?: { String?: { sval?: string } }[] } })?.ColumnRef
    ?.fields
  const name = fields?.length === 1 ? fields[0]?.String?.sval : undefined
  const match = name ? /^__rollback_expr_(\d+)$/.exec(name) : null
  return match ? Number(match[1]) : undefined
}

function substitute(node: unknown, exprs: ExprNode[], used: Set<number>): unknown {
  if (Array.isArray(node)) return node.map(n => substitute(n, exprs, used))
  if (!node || typeof node !== 'object') return node
  const i = placeholderIndex(node)
  if (i !== undefined) {
    if (!exprs[i]) throw new Error(`statement builder: no expression for placeholder ${i}`)
    used.add(i)
    return withoutLocations(exprs[i])
  }
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, substitute(v, exprs, used)]))
}

/** The tree without source positions, which differ between two texts of the same statement. */
export function withoutLocations(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutLocations)
  if (!node || typeof node !== 'object') return node
  return Object.fromEntries(
    Object.entries(node)
      .filter(([k]) => !['location', 'stmt_location', 'stmt_len'].includes(k))
      .map(([k, v]) => [k, withoutLocations(v)])
  )
}

interface BoolExpr {
  boolop: string
  args: unknown[]
}

/**
 * `a AND (b AND c)` is `a AND b AND c`: nested ANDs (ORs) become one list, as the parser itself
 * builds `a AND b AND c`. Placing a runbook AND condition into our AND gives such a nesting.
 */
export function flattenBooleans(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(flattenBooleans)
  if (!node || typeof node !== 'object') return node
  const out = Object.fromEntries(
    Object.entries(node).map(([k, v]) => [k, flattenBooleans(v)])
  ) as Record<string, unknown>
  const bool = out.BoolExpr as BoolExpr | undefined
  if (bool && bool.boolop !== 'NOT_EXPR') {
    const args = bool.args.flatMap(a => {
      const inner = (a as { BoolExpr?: BoolExpr }).BoolExpr
      return inner?.boolop === bool.boolop ? inner.args : [a]
    })
    out.BoolExpr = { ...bool, args }
  }
  return out
}

let deparser: Promise<(tree: unknown) => Promise<string>> | undefined

async function deparse(tree: unknown): Promise<string> {
  deparser ??= import('pgsql-deparser').then(m => (t: unknown) => m.deparse(t as never))
  return (await deparser)(tree)
}

/**
 * Builds one statement from a template (our SQL: identifiers through `ident()`, expressions as
 * `placeholder(i)`) and the parsed runbook expressions. Returns SQL whose parse tree is exactly
 * the template's with the expressions in place (checked by parsing it again).
 */
export async function buildStatement(
  template: string,
  exprs: ExprNode[],
  field: string
): Promise<string> {
  const parsed = (await parseSql(template)) as { stmts?: unknown[] }
  if (parsed.stmts?.length !== 1) throw new Error('statement builder: one template, one statement')
  const used = new Set<number>()
  const tree = flattenBooleans(substitute(withoutLocations(parsed), exprs, used))
  if (used.size !== exprs.length) throw new Error('statement builder: an expression was not placed')
  const sql = await deparse(tree)
  const again = flattenBooleans(withoutLocations(await parseSql(sql)))
  if (JSON.stringify(again) !== JSON.stringify(tree)) {
    throw new RollbackError(
      `${field}: the statement built from its expressions does not parse back to the same tree`,
      `simplify ${field}.where and ${field}.set (and report this case)`
    )
  }
  return sql
}
