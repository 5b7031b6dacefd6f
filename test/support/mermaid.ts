/** The real mermaid parser, in a child process (see mermaid-reader.mjs). */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { createInterface } from 'node:readline'

export interface ChartContent {
  kind?: 'gantt' | 'timeline'
  error?: string
  title?: string
  dateFormat?: string
  sections?: string[]
  tasks?: { task: string; section: string; start?: number; end?: number; events?: string[] }[]
}

export class MermaidReader {
  private readonly child: ChildProcessWithoutNullStreams
  private readonly pending: ((line: string) => void)[] = []

  constructor() {
    this.child = spawn(process.execPath, ['test/support/mermaid-reader.mjs'], {
      stdio: ['pipe', 'pipe', 'pipe']
    })
    createInterface({ input: this.child.stdout }).on('line', line => this.pending.shift()?.(line))
  }

  read(chart: string): Promise<ChartContent> {
    return new Promise(resolve => {
      this.pending.push(line => resolve(JSON.parse(line) as ChartContent))
      this.child.stdin.write(`${JSON.stringify({ chart })}\n`)
    })
  }

  close(): Promise<void> {
    return new Promise(resolve => {
      this.child.on('close', () => resolve())
      this.child.stdin.end()
    })
  }
}
