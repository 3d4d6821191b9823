// Removes the server's data directory made by playwright.config.ts.
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export default async function globalTeardown(): Promise<void> {
  const dir = process.env.VCORE_E2E_DATA_DIR;
  // Only ever the directory the config made: under the temp dir, with our prefix.
  if (dir && path.dirname(dir) === tmpdir() && path.basename(dir).startsWith('vcore-e2e-')) {
    rmSync(dir, { recursive: true, force: true });
  }
}
