// Reads mermaid charts with the real mermaid parser, headless on jsdom, in its own process (jest
// cannot load jsdom's ES modules). One JSON line in ({ chart }), one JSON line out: what the chart
// holds (title, date format, sections, tasks) or the parser's error.
import { createInterface } from 'node:readline'
import { JSDOM } from 'jsdom'

const dom = new JSDOM('<!doctype html><html><body></body></html>')
Object.assign(globalThis, { window: dom.window, document: dom.window.document })
const mermaid = (await import('mermaid')).default
await mermaid.parse('gantt\n  dateFormat x\n') // registers the diagram types

async function read(chart) {
  await mermaid.parse(chart)
  const { db } = await mermaid.mermaidAPI.getDiagramFromText(chart)
  if (typeof db.getDateFormat === 'function') {
    return {
      kind: 'gantt',
      title: db.getDiagramTitle(),
      dateFormat: db.getDateFormat(),
      sections: db.getSections(),
      tasks: db.getTasks().map(t => ({
        task: t.task.trim(),
        section: t.section,
        start: t.startTime.valueOf(),
        end: t.endTime.valueOf()
      }))
    }
  }
  return {
    kind: 'timeline',
    title: db.getCommonDb().getDiagramTitle(),
    sections: db.getSections(),
    tasks: db.getTasks().map(t => ({ task: t.task.trim(), section: t.section, events: t.events }))
  }
}

for await (const line of createInterface({ input: process.stdin })) {
  let out
  try {
    out = await read(JSON.parse(line).chart)
  } catch (err) {
    out = { error: String(err?.message ?? err) }
  }
  process.stdout.write(`${JSON.stringify(out)}\n`)
}
dom.window.close()
