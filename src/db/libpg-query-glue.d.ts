// The emscripten glue inside libpg-query (no types shipped for it); see pg-parser.ts.
declare module 'libpg-query/wasm/libpg-query.js' {
  const factory: (arg: Record<string, unknown>) => Promise<unknown>
  export default factory
}
