/**
 * A TCP pass-through on 127.0.0.1:0 to a local port, whose connections a test can cut at any
 * moment (both sockets destroyed at once), as a network drop would: the client sees its socket
 * reset, the server sees its client gone only when it next reads or writes. With `latencyMs`,
 * what the client sends reaches the server that much later (in order), as over a slow network:
 * every round trip then costs at least that long.
 */
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'

export interface TcpProxy {
  port: number
  /** Connections currently open through the proxy. */
  readonly open: number
  /** Destroys every connection open now; new ones are still accepted. */
  cut(): void
  close(): Promise<void>
}

export async function startTcpProxy(targetPort: number, latencyMs = 0): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>()
  const server = createServer(client => {
    const upstream = connect(targetPort, '127.0.0.1')
    const pair: [Socket, Socket] = [client, upstream]
    pairs.add(pair)
    if (latencyMs > 0) {
      // Each chunk is delayed by the same amount from its arrival, so the order is kept.
      client.on('data', chunk => setTimeout(() => upstream.write(chunk), latencyMs))
    } else client.pipe(upstream)
    upstream.pipe(client)
    for (const s of pair) {
      s.on('error', () => pair.forEach(x => x.destroy()))
      s.on('close', () => {
        pair.forEach(x => x.destroy())
        pairs.delete(pair)
      })
    }
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const cut = () => {
    for (const pair of pairs) pair.forEach(s => s.destroy())
    pairs.clear()
  }
  return {
    port: (server.address() as AddressInfo).port,
    get open() {
      return pairs.size
    },
    cut,
    close: () =>
      new Promise<void>(resolve => {
        cut()
        server.close(() => resolve())
      })
  }
}

/** A database URL that reaches its server through the proxy (same credentials and database). */
export function throughProxy(url: string, proxy: TcpProxy): string {
  return Object.assign(new URL(url), { port: String(proxy.port) }).toString()
}
