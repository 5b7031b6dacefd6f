/**
 * A small forward proxy (HTTP CONNECT, as undici's ProxyAgent speaks it) on 127.0.0.1:0. It
 * records every tunnel asked for and connects it to 127.0.0.1 whatever the host name: it resolves
 * names the way a corporate proxy knows hosts the runner cannot resolve itself.
 */
import { createServer, type IncomingMessage } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'

export interface TestProxy {
  url: string
  /** host:port of every CONNECT, in order. */
  tunnels: string[]
  /** Proxy-Authorization of every CONNECT (undefined when none was sent). */
  credentials: (string | undefined)[]
  close(): Promise<void>
}

export async function startProxy(): Promise<TestProxy> {
  const tunnels: string[] = []
  const credentials: (string | undefined)[] = []
  const sockets = new Set<Socket>()
  const server = createServer((_req, res) => {
    res.writeHead(405).end('only CONNECT')
  })
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    const target = req.url ?? ''
    tunnels.push(target)
    credentials.push(req.headers['proxy-authorization'])
    const port = Number(target.split(':').pop())
    const upstream = connect(port, '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      upstream.write(head)
      upstream.pipe(client)
      client.pipe(upstream)
    })
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => s.destroy())
    }
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    tunnels,
    credentials,
    close: () =>
      new Promise<void>(resolve => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      })
  }
}
