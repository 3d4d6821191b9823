// Someone who forgot their password asks for a recovery email on the sign-in page, follows
// the link in the mail (received by a real SMTP server, see smtp-sink.mjs) and sets a new
// password; the link then no longer works, and only the new password signs in.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { mailDir } from '../playwright.config';
import { createUserViaApi, expect, open, signIn, submitSignIn, test } from './support';

/** The body of the newest mail to `address`, quoted-printable decoded. */
async function mailTo(address: string): Promise<string> {
  let found = '';
  await expect
    .poll(() => {
      const files = readdirSync(mailDir).filter((f) => f.endsWith('.eml'));
      const mails = files.map((f) => readFileSync(path.join(mailDir, f), 'utf8'));
      found = mails.reverse().find((m) => m.startsWith(`X-Envelope-To: ${address}\r\n`)) ?? '';
      return found !== '';
    }, { timeout: 10_000 })
    .toBe(true);
  const body = found.split('\r\n\r\n').slice(1).join('\r\n\r\n');
  return body
    .replace(/=\r\n/g, '')
    .replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
}

test('recovers a forgotten password through the emailed link', async ({ page, request }) => {
  const username = await createUserViaApi(request, 'forgotten-pass-1');
  const email = `${username}@example.com`;

  await open(page, '/login');
  await page.getByRole('link', { name: 'Forgot your password?' }).click();
  await expect(page.getByRole('heading', { name: 'Recover password' })).toBeVisible();
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByRole('button', { name: 'Send recovery email' }).click();
  await expect(page.getByRole('status')).toContainText('If that address belongs to an account');

  const body = await mailTo(email);
  const link = body.match(/https?:\/\/\S+\/reset-password\?token=\S+/)?.[0];
  expect(link, body).toBeTruthy();
  await open(page, link!);
  // Too short: refused next to the field, nothing changes.
  await page.getByLabel('New password', { exact: true }).fill('short');
  await page.getByRole('button', { name: 'Set password' }).click();
  await expect(page.locator('#new_password-error')).toBeVisible();
  await page.getByLabel('New password', { exact: true }).fill('recovered-pass-2');
  await page.getByRole('button', { name: 'Set password' }).click();
  await expect(page.getByRole('status')).toContainText('Password updated');

  // The link is spent.
  await open(page, link!);
  await page.getByLabel('New password', { exact: true }).fill('another-pass-3');
  await page.getByRole('button', { name: 'Set password' }).click();
  await expect(page.getByRole('alert')).toContainText('invalid or has expired');

  await submitSignIn(page, username, 'forgotten-pass-1');
  await expect(page.getByRole('alert')).toContainText('Incorrect username or password');
  await signIn(page, username, 'recovered-pass-2');
});
