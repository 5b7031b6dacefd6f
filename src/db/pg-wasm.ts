/**
 * The bytes of libpg-query's .wasm. Keep this file tiny and this exact shape: ncc's asset
 * relocator recognises `readFileSync(new URL(<literal>, import.meta.url))`, copies the file byte
 * for byte next to the bundle (dist/libpg-query.wasm) and rewrites the URL. From the sources it is
 * simply the file in node_modules.
 */
import { readFileSync } from 'node:fs'

export function libpgQueryWasm(): Buffer {
  return readFileSync(
    new URL('../../node_modules/libpg-query/wasm/libpg-query.wasm', import.meta.url)
  )
}
