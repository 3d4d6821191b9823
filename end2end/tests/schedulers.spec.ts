// A person schedules a job: the cron field shows the next runs as it is typed; the new
// scheduler is listed with its next run, can be edited (the form comes filled in), disabled
// and enabled again, and deleted.
import { ADMIN, expect, open, signIn, test } from './support';

test('creates, edits, toggles and deletes a scheduler', async ({ page }) => {
  await signIn(page, ADMIN.username, ADMIN.password);
  await open(page, '/schedulers');
  const name = `nightly-${Date.now()}`;
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByLabel('Trigger', { exact: true }).selectOption('cron');
  await page.getByLabel('Cron expression (for cron)').fill('30 2 * * *');
  await page.getByLabel('Time zone (for cron)').fill('Europe/Berlin');
  const preview = page.getByLabel('Next runs');
  await expect(preview).toContainText('02:30 CET');
  expect(((await preview.textContent()) ?? '').trim().split('\n')).toHaveLength(5);
  // A wrong expression says so before submitting.
  await page.getByLabel('Cron expression (for cron)').fill('61 2 * * *');
  await expect(page.getByRole('status').filter({ hasText: '"61 2 * * *"' })).toBeVisible();
  await page.getByLabel('Cron expression (for cron)').fill('30 2 * * *');

  await page.getByLabel('Job name', { exact: true }).fill('cleanup');
  await page.getByLabel('Job type', { exact: true }).selectOption('script');
  await page.getByLabel('Script, command or URL', { exact: true }).fill('noop');
  await page.getByRole('button', { name: 'Create scheduler' }).click();

  const row = page.getByRole('row').filter({ hasText: name });
  await expect(row).toContainText('cron 30 2 * * * (Europe/Berlin)');
  await expect(row).toContainText('Enabled');
  // Next run: 02:30 in Berlin is 01:30 UTC in winter.
  await expect(row).toContainText('01:30:00 UTC');

  // Edit: the form is filled in with the scheduler; the preview follows the new expression.
  await page.getByRole('button', { name: `Edit ${name}` }).click();
  await expect(page.getByRole('heading', { name: `Edit ${name}` })).toBeVisible();
  await expect(page.getByLabel('Cron expression (for cron)')).toHaveValue('30 2 * * *');
  await expect(page.getByLabel('Script, command or URL', { exact: true })).toHaveValue('noop');
  await page.getByLabel('Cron expression (for cron)').fill('0 6 * * 1');
  await page.getByLabel('Time zone (for cron)').fill('UTC');
  await expect(page.getByLabel('Next runs')).toContainText('06:00');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await expect(row).toContainText('cron 0 6 * * 1 (UTC)');
  await expect(row).toContainText('06:00:00 UTC');
  await expect(page.getByRole('heading', { name: 'Add a scheduler' })).toBeVisible();

  await page.getByRole('button', { name: `Disable ${name}` }).click();
  await expect(row).toContainText('Disabled');
  await page.getByRole('button', { name: `Enable ${name}` }).click();
  await expect(row).toContainText('Enabled');

  await page.getByRole('button', { name: `Delete ${name}` }).click();
  await expect(page.getByRole('row').filter({ hasText: name })).toHaveCount(0);
});
