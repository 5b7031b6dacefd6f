/** Tiny helpers for the local HTTP stand-ins: start a server on 127.0.0.1:0, read JSON, reply. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface RecordedRequest {
  method: string
  path: string
  query: Record<string, string>
  /** Parsed JSON body (undefined when empty or not JSON). */
  body: unknown
  rawBody: string
  authorization?: string
  headers: Record<string, string | string[] | undefined>
  /** HTTP status the stand-in answered with. */
  status?: number
}

export interface Reply {
  status: number
  body?: unknown
  headers?: Record<string, string>
  /** Sent as-is (text/html) instead of JSON. */
  text?: string
}

export interface JsonServer {
  url: string
  server: Server
  close(): Promise<void>
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

export function send(res: ServerResponse, reply: Reply): void {
  const headers: Record<string, string> = { ...reply.headers }
  let payload = ''
  if (reply.text !== undefined) {
    headers['content-type'] ??= 'text/html; charset=utf-8'
    payload = reply.text
  } else if (reply.body !== undefined) {
    headers['content-type'] = 'application/json; charset=utf-8'
    payload = JSON.stringify(reply.body)
  }
  res.writeHead(reply.status, headers)
  res.end(payload)
}

/** Parses method, path, query and JSON body into a RecordedRequest. */
export async function parseRequest(req: IncomingMessage): Promise<RecordedRequest> {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1')
  const rawBody = await readBody(req)
  let body: unknown
  if (rawBody) {
    try {
      body = JSON.parse(rawBody)
    } catch {
      body = undefined
    }
  }
  const auth = req.headers.authorization
  return {
    method: req.method ?? 'GET',
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    body,
    rawBody,
    authorization: typeof auth === 'string' ? auth : undefined,
    headers: req.headers
  }
}

/** A request the stand-in never answers, the next `remaining` times it comes. */
export interface Hang {
  method?: string
  path: string | RegExp
  remaining: number
}

/** A reply that never comes when a hang matches the request (close() drops the connection). */
export function takeHang(hangs: Hang[], req: RecordedRequest): Promise<Reply> | undefined {
  const hang = hangs.find(
    h =>
      h.remaining > 0 &&
      (!h.method || h.method === req.method) &&
      (typeof h.path === 'string' ? h.path === req.path : h.path.test(req.path))
  )
  if (!hang) return undefined
  hang.remaining--
  return new Promise<Reply>(() => {})
}

/** Starts a server whose handler maps a parsed request to a reply. */
export async function startJsonServer(
  handler: (request: RecordedRequest) => Reply | Promise<Reply>
): Promise<JsonServer> {
  const server = createServer((req, res) => {
    parseRequest(req)
      .then(async request => {
        const reply = await handler(request)
        send(res, reply)
      })
      .catch((err: unknown) => {
        send(res, { status: 500, body: { error: String(err) } })
      })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections()
        server.close(err => (err ? reject(err) : resolve()))
      })
  }
}

/** A webhook receiver (Slack-like): records every POST and answers 200 "ok". */
export async function startWebhookSink(status = 200) {
  const received: RecordedRequest[] = []
  const sink = await startJsonServer(request => {
    received.push(request)
    return { status, text: status === 200 ? 'ok' : 'no', headers: { 'content-type': 'text/plain' } }
  })
  return { ...sink, received }
}
