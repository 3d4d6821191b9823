// Each quick tool, used the way a person would: open it from the tools page, fill the
// form, run it, read the result; a bad input gets its message next to the field.
import { ADMIN, expect, open, signIn, test } from './support';
import type { Page } from '@playwright/test';

async function useTool(page: Page, title: string, input: string, option?: string): Promise<void> {
  await open(page, '/tools');
  await page.getByRole('link', { name: title, exact: true }).click();
  await expect(page.getByRole('heading', { level: 1, name: title })).toBeVisible();
  const field = page.locator('#input');
  await field.fill(input);
  if (option) await page.locator('#option').selectOption(option);
  await page.getByRole('button', { name: 'Run' }).click();
}

const result = (page: Page) => page.getByLabel('Result text');

test('uses each quick tool', async ({ page }) => {
  await signIn(page, ADMIN.username, ADMIN.password);

  await useTool(page, 'Cron explainer', '0 9 * * mon', 'Europe/Berlin');
  await expect(result(page)).toContainText('Mon ');
  await expect(result(page)).toContainText('09:00 CET');
  expect(((await result(page).textContent()) ?? '').trim().split('\n')).toHaveLength(5);

  await useTool(page, 'JSON formatter', '{"b": [1, 2], "a": true}', 'minify');
  await expect(result(page)).toHaveText('{"a":true,"b":[1,2]}');
  await page.locator('#input').fill('{"a": }');
  await page.getByRole('button', { name: 'Run' }).click();
  await expect(page.locator('#input-error')).toContainText('line 1');

  await useTool(page, 'UUID and token generator', '3', 'uuid');
  await expect(result(page)).toHaveText(/^([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\n?){3}$/);

  await useTool(page, 'Hash', 'hello', 'sha256');
  await expect(result(page)).toHaveText('2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');

  await useTool(page, 'Base64', 'aGVsbG8gdmNvcmU=', 'decode');
  await expect(result(page)).toHaveText('hello vcore');

  await useTool(page, 'Timestamp converter', '1764000000');
  await expect(result(page)).toContainText('2025-11-24T16:00:00.000Z');
});
