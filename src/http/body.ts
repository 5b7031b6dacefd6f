/** Reads a response body up to a size limit, so no answer can take unbounded memory. */

export interface BoundedBody {
  text: string
  /** The body was longer than the limit (only the first `maxBytes` are in `text`). */
  truncated: boolean
}

export async function readBounded(response: Response, maxBytes: number): Promise<BoundedBody> {
  const reader = response.body?.getReader()
  if (!reader) return { text: '', truncated: false }
  const chunks: Uint8Array[] = []
  let size = 0
  let truncated = false
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    const room = maxBytes - size
    if (value.byteLength > room) {
      chunks.push(value.subarray(0, room))
      size += room
      truncated = true
      await reader.cancel().catch(() => undefined)
      break
    }
    chunks.push(value)
    size += value.byteLength
  }
  return { text: Buffer.concat(chunks, size).toString('utf8'), truncated }
}

/** Drops a body nobody reads, so the connection is released. */
export async function discardBody(response: Response): Promise<void> {
  await response.body?.cancel().catch(() => undefined)
}
