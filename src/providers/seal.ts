/**
 * A keyed digest a provider writes on the builds this tool starts (Vercel deployment meta, Netlify
 * deploy title): which variable values a build was made after setting. It lets a rerun tell that
 * values it cannot read back (Vercel `sensitive`, Netlify secrets) are already set and built,
 * without storing them: keyed with the token, nobody without it can test guesses against it.
 */
import { createHmac } from 'node:crypto'

/** Hex characters kept: enough that two different value sets never share one by chance. */
const LENGTH = 32

export function seal(token: string, text: string): string {
  return createHmac('sha256', token).update(text).digest('hex').slice(0, LENGTH)
}

/** The meta key (Vercel) and title field (Netlify) that carries it. */
export const SEAL_FIELD = 'rollbackValues'
