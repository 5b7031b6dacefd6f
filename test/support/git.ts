/** Real git repositories for tests: a bare remote, clones (full or shallow), commit helpers. */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'

export const IDENTITY = {
  GIT_AUTHOR_NAME: 'Test Author',
  GIT_AUTHOR_EMAIL: 'author@example.com',
  GIT_COMMITTER_NAME: 'Test Author',
  GIT_COMMITTER_EMAIL: 'author@example.com'
}

/** Runs git synchronously (test setup only) and returns trimmed stdout. */
export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    env: { ...process.env, ...IDENTITY, GIT_TERMINAL_PROMPT: '0' },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe']
  }).trim()
}

export function tempDir(prefix = 'git-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix))
}

export interface TestRepo {
  root: string
  /** Bare repository path. */
  bare: string
  /** file:// URL of the bare repository (so shallow clones really are shallow). */
  url: string
  /** Working clone used to build history. */
  work: string
  cleanup(): void
}

/** A bare remote with branch `main` and a working clone holding one initial commit. */
export function makeRepo(files: Record<string, string> = { 'README.md': 'hello\n' }): TestRepo {
  const root = tempDir()
  const bare = join(root, 'remote.git')
  git(root, 'init', '--quiet', '--bare', '--initial-branch=main', bare)
  const url = pathToFileURL(bare).href
  const work = join(root, 'author')
  git(root, 'clone', '--quiet', url, work)
  git(work, 'checkout', '--quiet', '-b', 'main')
  commit(work, 'initial commit', files)
  git(work, 'push', '--quiet', 'origin', 'main')
  return { root, bare, url, work, cleanup: () => rmSync(root, { recursive: true, force: true }) }
}

/** Writes (string) or deletes (null) files, commits them, returns the new sha. */
export function commit(cwd: string, message: string, files: Record<string, string | null>): string {
  for (const [path, content] of Object.entries(files)) {
    const full = join(cwd, path)
    if (content === null) {
      git(cwd, 'rm', '--quiet', '-r', '--', path)
      continue
    }
    mkdirSync(dirname(full), { recursive: true })
    writeFileSync(full, content)
    git(cwd, 'add', '--', path)
  }
  git(cwd, 'commit', '--quiet', '--allow-empty', '-m', message)
  return git(cwd, 'rev-parse', 'HEAD')
}

/** An empty commit made at `at` (epoch ms), committer time included; returns its sha. */
export function commitAt(cwd: string, message: string, at: number): string {
  const date = `@${Math.floor(at / 1000)} +0000`
  execFileSync('git', ['commit', '--quiet', '--allow-empty', '-m', message], {
    cwd,
    env: { ...process.env, ...IDENTITY, GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date }
  })
  return git(cwd, 'rev-parse', 'HEAD')
}

/**
 * A repository whose branch has good1 (5 h ago), good2 (4 h), the bad change (3 h) and one commit
 * after it (2 h): for cutoffs given as the bad commit.
 */
export function badChangeHistory(now = Date.now()) {
  const repo = makeRepo()
  const hour = 3_600_000
  const good1 = commitAt(repo.work, 'good 1', now - 5 * hour)
  const good2 = commitAt(repo.work, 'good 2', now - 4 * hour)
  const bad = commitAt(repo.work, 'the bad change', now - 3 * hour)
  const after = commitAt(repo.work, 'after it', now - 2 * hour)
  return { repo, good1, good2, bad, after }
}

export function push(cwd: string, ref = 'main'): void {
  git(cwd, 'push', '--quiet', 'origin', ref)
}

/** A fresh clone of the remote in its own directory; depth 1 like actions/checkout by default. */
export function clone(repo: TestRepo, options: { depth?: number; name?: string } = {}): string {
  const dir = join(repo.root, options.name ?? `clone-${Math.random().toString(36).slice(2, 8)}`)
  const args = ['clone', '--quiet', '--branch', 'main']
  if (options.depth) args.push(`--depth=${options.depth}`)
  git(repo.root, ...args, repo.url, dir)
  return dir
}

export function remoteHead(repo: TestRepo, ref = 'refs/heads/main'): string | undefined {
  try {
    return git(repo.bare, 'rev-parse', '--verify', '--quiet', ref)
  } catch {
    return undefined
  }
}

/** Whether `path` exists in the remote's `ref`. */
export function remoteHasPath(repo: TestRepo, path: string, ref = 'main'): boolean {
  try {
    git(repo.bare, 'cat-file', '-e', `${ref}:${path}`)
    return true
  } catch {
    return false
  }
}

export function remoteLog(repo: TestRepo, range = 'main'): string[] {
  return git(repo.bare, 'log', '--format=%s', range).split('\n').filter(Boolean)
}
