/**
 * The part of GitHub Actions' expression language the reusable workflow's job conditions use:
 * `||`, `&&`, `!`, `==`, `!=`, parentheses, string/boolean literals, context paths (`a.b['c-d']`)
 * and the status functions. As GitHub documents it: `||` and `&&` give an operand's value, not a
 * boolean; strings compare without case; '' , null, false and 0 are falsy. Enough to run a job's
 * `if:` and `environment:` against the outcomes of the jobs it needs.
 */
export type Value = string | boolean | number | null | { [key: string]: Value }

export interface ExpressionContext {
  contexts: Record<string, Value>
  /** What `cancelled()`, `always()`, `success()` and `failure()` answer. */
  status: { cancelled: boolean; success: boolean }
}

const TOKEN = /\s*(\|\||&&|==|!=|!|\(|\)|\[|\]|\.|'(?:[^']|'')*'|[A-Za-z_][A-Za-z0-9_-]*|\d+)/y

function tokenize(text: string): string[] {
  const tokens: string[] = []
  TOKEN.lastIndex = 0
  while (TOKEN.lastIndex < text.trimEnd().length) {
    const match = TOKEN.exec(text)
    if (!match) throw new Error(`cannot read the expression at: ${text.slice(TOKEN.lastIndex)}`)
    tokens.push(match[1]!)
  }
  return tokens
}

export const truthy = (v: Value | undefined) =>
  v !== undefined && v !== null && v !== false && v !== '' && v !== 0

function equal(a: Value | undefined, b: Value | undefined): boolean {
  if (typeof a === 'string' && typeof b === 'string') return a.toLowerCase() === b.toLowerCase()
  return (a ?? null) === (b ?? null)
}

/** Evaluates `text` (with or without its `${{ }}`). */
export function evaluate(text: string, ctx: ExpressionContext): Value {
  const body = text.trim().replace(/^\$\{\{([\s\S]*)\}\}$/, '$1')
  const tokens = tokenize(body)
  let at = 0
  const peek = () => tokens[at]
  const take = (expected?: string) => {
    const token = tokens[at++]
    if (expected !== undefined && token !== expected)
      throw new Error(`expected ${expected}, got ${token}`)
    return token!
  }
  const or = (): Value => {
    let value = and()
    while (peek() === '||') {
      take()
      const right = and()
      value = truthy(value) ? value : right
    }
    return value
  }
  const and = (): Value => {
    let value = unary()
    while (peek() === '&&') {
      take()
      const right = unary()
      value = truthy(value) ? right : value
    }
    return value
  }
  const unary = (): Value => {
    if (peek() !== '!') return comparison()
    take()
    return !truthy(unary())
  }
  const comparison = (): Value => {
    const left = primary()
    const op = peek()
    if (op !== '==' && op !== '!=') return left
    take()
    const same = equal(left, primary())
    return op === '==' ? same : !same
  }
  const primary = (): Value => {
    const token = take()
    if (token === '(') {
      const value = or()
      take(')')
      return value
    }
    if (token.startsWith("'")) return token.slice(1, -1).replace(/''/g, "'")
    if (/^\d+$/.test(token)) return Number(token)
    if (token === 'true' || token === 'false') return token === 'true'
    if (token === 'null') return null
    if (peek() === '(') {
      take('(')
      take(')')
      return call(token)
    }
    let value: Value | undefined = ctx.contexts[token]
    for (;;) {
      if (peek() === '.') {
        take()
        value = member(value, take())
      } else if (peek() === '[') {
        take()
        value = member(value, String(primary()))
        take(']')
      } else return value ?? null
    }
  }
  const call = (name: string): Value => {
    const { cancelled, success } = ctx.status
    const functions: Record<string, boolean> = {
      cancelled,
      always: true,
      success: success && !cancelled,
      failure: !success
    }
    if (!(name in functions)) throw new Error(`unknown function ${name}()`)
    return functions[name]!
  }
  const value = or()
  if (at !== tokens.length) throw new Error(`unexpected ${tokens[at]} in ${body}`)
  return value
}

function member(value: Value | undefined, key: string): Value | undefined {
  if (value === null || typeof value !== 'object') return undefined
  return value[key]
}

/** A job's `if:` as GitHub runs it: no status function means `success() && (...)`. */
export function jobRuns(condition: string | undefined, ctx: ExpressionContext): boolean {
  if (condition === undefined) return ctx.status.success
  const statusCheck = /\b(cancelled|always|success|failure)\(\)/.test(condition)
  const result = truthy(evaluate(condition, ctx))
  return statusCheck ? result : ctx.status.success && result
}
