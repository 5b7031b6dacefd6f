/** Where every layer writes its progress; the entry points decide where it goes. */
export interface Logger {
  info(message: string): void
  warn(message: string): void
  error(message: string): void
  debug(message: string): void
}
