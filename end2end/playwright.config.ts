// Browser tests: Playwright drives the system Chromium (no browser downloads) against the
// already-built server binary, started here on its own port with a fresh data directory.
//
// Build first (`target/xtask/release/vcore-xtask build`, as scripts/test.sh does), then `npm test`. Knobs: VCORE_BIN (the server binary,
// default ../target/debug/vcore), E2E_PORT (3456; the SPA server and the SMTP server take
// the next two ports, pwa.spec.ts's own server the third, the example application
// (examples/notes) the fourth), CHROMIUM (/usr/bin/chromium), LEPTOS_SITE_ROOT
// (../target/site); for the example, NOTES_BIN (../target/debug/notes) and NOTES_SITE_ROOT
// (../target/site-notes).
import { defineConfig } from '@playwright/test';
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const port = Number(process.env.E2E_PORT ?? 3456);
const baseURL = `http://127.0.0.1:${port}`;

// A fresh data dir (so a fresh SQLite database) per run. One fixed name per port, emptied
// here rather than a new random one, so that runs which never reach the teardown
// (`--list`, a killed run) cannot pile up directories. Playwright evaluates this file in
// the runner and again in each worker; only the runner (no TEST_WORKER_INDEX) starts the
// server, so only it empties the dir. global-teardown.ts removes it after the run.
const dataDir = path.join(tmpdir(), `vcore-e2e-${port}`);
const notesDataDir = path.join(dataDir, 'notes');
if (process.env.TEST_WORKER_INDEX === undefined) {
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(notesDataDir, { recursive: true });
  process.env.VCORE_E2E_DATA_DIR = dataDir;
}

// Mail the server sends (password recovery) lands here, one .eml file per message.
export const mailDir = path.join(dataDir, 'mail');
const smtpPort = port + 2;

const bin = path.resolve(__dirname, process.env.VCORE_BIN ?? '../target/debug/vcore');
// The client-only (Trunk) build, served by spa-server.mjs on the next port.
export const spaURL = `http://127.0.0.1:${port + 1}`;
const spaDist = path.resolve(__dirname, process.env.SPA_DIST ?? '../target/spa');
const siteRoot = path.resolve(__dirname, process.env.LEPTOS_SITE_ROOT ?? '../target/site');
// The example application built on vcore (examples/notes), with its own site and database.
export const notesURL = `http://127.0.0.1:${port + 4}`;
const notesBin = path.resolve(__dirname, process.env.NOTES_BIN ?? '../target/debug/notes');
const notesSite = path.resolve(__dirname, process.env.NOTES_SITE_ROOT ?? '../target/site-notes');

/** A vcore server (vcore's own binary, or an application's built on it) on `port`, with a
 * fresh SQLite database in `dir` and the superuser `admin`; `extra` variables last. */
function appServer(binary: string, port: number, dir: string, db: string, site: string, extra: Record<string, string>) {
  const url = `http://127.0.0.1:${port}`;
  return {
    command: `"${binary}" serve`,
    url: `${url}/readyz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'pipe' as const,
    stderr: 'pipe' as const,
    env: {
      ...(process.env as Record<string, string>),
      ENV_NAME: 'development',
      SERVER_HOST: '127.0.0.1',
      SERVER_PORT: String(port),
      BASE_URL: url,
      DATA_DIR: dir,
      DB_URL: `sqlite://${path.join(dir, db)}`,
      FIRST_SUPERUSER_USERNAME: 'admin',
      FIRST_SUPERUSER_EMAIL: 'admin@example.com',
      FIRST_SUPERUSER_PASSWORD: 'e2e-admin-pass',
      USERS_OPEN_REGISTRATION: 'false',
      LEPTOS_SITE_ROOT: site,
      LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
      ...extra,
    },
  };
}

export default defineConfig({
  testDir: 'tests',
  workers: 1,
  retries: 0,
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  timeout: 30_000,
  expect: { timeout: 10_000 },
  reporter: process.env.CI ? [['list']] : [['list'], ['html', { open: 'never' }]],
  globalTeardown: './global-teardown.ts',
  use: {
    baseURL,
    screenshot: 'only-on-failure',
    trace: 'off',
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
  webServer: [
    appServer(bin, port, dataDir, 'vcore.db', siteRoot, {
      // The SPA is served from another origin (like `trunk serve`); its writes are trusted.
      TRUSTED_ORIGINS: spaURL,
      // Email goes to the SMTP server below (plain text: it is on this host).
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(smtpPort),
      SMTP_TLS: 'false',
      EMAILS_FROM_EMAIL: 'robot@e2e.test',
    }),
    appServer(notesBin, port + 4, notesDataDir, 'notes.db', notesSite, {}),
    {
      command: `node smtp-sink.mjs ${smtpPort} "${mailDir}"`,
      port: smtpPort,
      reuseExistingServer: false,
      timeout: 30_000,
    },
    {
      command: `node spa-server.mjs ${port + 1} "${spaDist}" ${baseURL}`,
      url: `${spaURL}/index.html`,
      reuseExistingServer: false,
      timeout: 30_000,
    },
  ],
});
