/**
 * A local forward proxy (127.0.0.1:0) that records what it carried: CONNECT tunnels (what undici's
 * ProxyAgent uses) and plain absolute-URI requests. Tunnels connect to 127.0.0.1 whatever the host
 * name, the way a corporate proxy knows hosts the runner cannot resolve itself. Tests assert that
 * a call did, or did not (NO_PROXY), go through it.
 */
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'

export interface TestProxy {
  url: string
  /** `CONNECT 127.0.0.1:1234` or `GET http://127.0.0.1:1234/path`, in order. */
  seen: string[]
  /** host:port of every CONNECT, in order. */
  tunnels: string[]
  /** Proxy-Authorization of every CONNECT (undefined when none was sent). */
  credentials: (string | undefined)[]
  close(): Promise<void>
}

export async function startProxy(): Promise<TestProxy> {
  const seen: string[] = []
  const tunnels: string[] = []
  const credentials: (string | undefined)[] = []
  const sockets = new Set<Socket>()
  const track = (s: Socket) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('error', () => s.destroy())
  }
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`)
    const target = new URL(req.url ?? '')
    const upstream = httpRequest(target, { method: req.method, headers: req.headers }, answer => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    })
    upstream.on('error', () => res.writeHead(502).end())
    req.pipe(upstream)
  })
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    const target = req.url ?? ''
    seen.push(`CONNECT ${target}`)
    tunnels.push(target)
    credentials.push(req.headers['proxy-authorization'])
    const port = Number(target.split(':').pop())
    const upstream = connect(port, '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      upstream.write(head)
      upstream.pipe(client)
      client.pipe(upstream)
    })
    track(client)
    track(upstream)
  })
  server.on('connection', socket => track(socket))
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    tunnels,
    credentials,
    close: () =>
      new Promise<void>(resolve => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      })
  }
}
