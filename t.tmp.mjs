import { readFileSync } from 'node:fs'
import { setFlagsFromString } from 'node:v8'
for (const f of (process.env.FLAGS || '').split(' ').filter(Boolean)) setFlagsFromString(f)
const bytes = readFileSync('node_modules/libpg-query/wasm/libpg-query.wasm')
globalThis.__dirname = process.cwd()
const { default: f } = await import('libpg-query/wasm/libpg-query.js')
const factory = typeof f === 'function' ? f : f.default
const t1 = performance.now()
const m = await factory({ instantiateWasm(imports, done) { WebAssembly.instantiate(bytes, imports).then(r => done(r.instance)); return {} } })
const t2 = performance.now()
function parse(sql){ const len = m.lengthBytesUTF8(sql)+1; const p = m._malloc(len); m.stringToUTF8(sql,p,len); const r = m._wasm_parse_query_raw(p); const s = m.UTF8ToString(m.getValue(r,'i32')); m._free(p); m._wasm_free_parse_result(r); return s }
parse('SELECT workflow_id, count(*) FROM outline_sessions WHERE is_active GROUP BY 1 HAVING count(*) > 1')
const t3 = performance.now()
console.log(process.env.FLAGS || 'default', { inst: (t2-t1).toFixed(1), firstParse: (t3-t2).toFixed(1) })
