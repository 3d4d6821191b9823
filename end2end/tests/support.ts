// Shared steps of the browser tests. Every navigation waits for `networkidle`, by which
// time the WASM bundle has loaded and the page is hydrated (the page marks nothing else).
import { expect, type Page } from '@playwright/test';

export const ADMIN = { username: 'admin', password: 'e2e-admin-pass' };

export async function open(page: Page, path: string): Promise<void> {
  await page.goto(path);
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
  await page.waitForLoadState('networkidle');
}
