// Shared steps of the browser tests. Every navigation waits until the page is hydrated:
// the app sets `data-hydrated` on <html> from an effect, which runs only once the WASM
// bundle has taken over. `test` fails any test whose page threw an uncaught error, broke
// the Content-Security-Policy or failed to load a resource (a missing WASM file once passed
// unnoticed).
import { test as base, expect, type APIRequestContext, type Page } from '@playwright/test';

export const test = base.extend<{ pageErrors: string[] }>({
  pageErrors: [
    async ({ page }, use) => {
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
      // A Content-Security-Policy violation (Chromium reports each as a console error).
      page.on('console', (m) => {
        if (m.type() === 'error' && m.text().includes('Content Security Policy')) {
          errors.push(`CSP: ${m.text()}`);
        }
      });
      page.on('response', (r) => {
        if (r.status() >= 400 && r.request().resourceType() !== 'fetch') {
          errors.push(`${r.status()} ${r.url()}`);
        }
      });
      await use(errors);
      expect(errors, 'page errors').toEqual([]);
    },
    { auto: true },
  ],
});
export { expect };

export const ADMIN = { username: 'admin', password: 'e2e-admin-pass' };

export async function open(page: Page, path: string): Promise<void> {
  await page.goto(path);
  await hydrated(page);
}

/** Waits until the WASM bundle has hydrated the page. */
export async function hydrated(page: Page): Promise<void> {
  await expect(page.locator('html[data-hydrated]')).toHaveCount(1);
  await page.waitForLoadState('networkidle');
}

/** Fills and submits the sign-in form; does not check the outcome. */
export async function submitSignIn(page: Page, username: string, password: string): Promise<void> {
  await open(page, '/login');
  await page.getByLabel('Username', { exact: true }).fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

/** Signs in and waits for the app shell. */
export async function signIn(page: Page, username: string, password: string): Promise<void> {
  await submitSignIn(page, username, password);
  await expect(page.locator('nav[aria-label="Main"]')).toBeVisible();
  await expect(page).not.toHaveURL(/\/login/);
  await hydrated(page);
}

/** Creates a regular user through the REST API (as the admin); returns its username. */
export async function createUserViaApi(request: APIRequestContext, password: string): Promise<string> {
  const login = await request.post('/api/v1/login/access-token', {
    form: { username: ADMIN.username, password: ADMIN.password },
  });
  expect(login.ok()).toBeTruthy();
  const { access_token } = await login.json();
  const username = `u${Date.now().toString(36)}${Math.floor(Math.random() * 1000)}`;
  const created = await request.post('/api/v1/users/', {
    headers: { Authorization: `Bearer ${access_token}` },
    data: { username, email: `${username}@example.com`, password },
  });
  expect(created.status()).toBe(201);
  return username;
}
