// Two-factor sign-in in the browser: set up from the profile (the QR code and the key), a
// code computed here from the key as an authenticator app would, the code asked after the
// password, a code working once, a recovery code spent once, wrong codes throttled like
// passwords, and a superuser's reset from the users page.
import { createHmac } from 'node:crypto';
import { ADMIN, createUserViaApi, expect, open, signIn, submitSignIn, test } from './support';
import type { Page } from '@playwright/test';

/** RFC 4648 base32 (no padding) to bytes. */
function base32(text: string): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of text.replace(/=+$/, '').toUpperCase()) {
    bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

/** The RFC 6238 code (SHA-1, 6 digits, 30 s) of `secret`, `steps` steps from now. */
function totp(secret: string, steps = 0): string {
  const counter = Math.floor(Date.now() / 1000 / 30) + steps;
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const h = createHmac('sha1', base32(secret)).update(msg).digest();
  const at = h[h.length - 1] & 0x0f;
  const bin = ((h[at] & 0x7f) << 24) | (h[at + 1] << 16) | (h[at + 2] << 8) | h[at + 3];
  return String(bin % 1_000_000).padStart(6, '0');
}

const CODE_FIELD = 'Two-factor code (or a recovery code)';

async function signOut(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'User menu' }).click();
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await expect(page).toHaveURL(/\/login/);
}

/** Password, then the code the page asks for. */
async function signInWithCode(page: Page, username: string, password: string, code: string): Promise<void> {
  await submitSignIn(page, username, password);
  await expect(page.getByRole('alert')).toHaveText('Two-factor code required');
  await page.getByLabel(CODE_FIELD).fill(code);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

test('sets up two-factor sign-in and signs in with codes', async ({ page, request }) => {
  const password = 'user-password-1';
  const username = await createUserViaApi(request, password);
  await signIn(page, username, password);
  await open(page, '/profile');
  const section = page.locator('section', { has: page.getByRole('heading', { name: 'Two-factor sign-in' }) });
  await section.getByRole('button', { name: 'Set up two-factor sign-in' }).click();
  await expect(section.getByRole('img', { name: 'QR code for the authenticator app' }).locator('svg')).toBeVisible();
  const secret = (await section.getByTestId('mfa-secret').textContent()) ?? '';
  expect(secret).toMatch(/^[A-Z2-7]{32}$/);
  // A wrong code is refused next to the field; the app's code turns it on.
  await section.getByLabel('Code from the app').fill(totp(secret) === '000000' ? '111111' : '000000');
  await section.getByRole('button', { name: 'Turn on' }).click();
  await expect(section.getByText('is not the app\'s current code')).toBeVisible();
  await section.getByLabel('Code from the app').fill(totp(secret));
  await section.getByRole('button', { name: 'Turn on' }).click();
  const codes = section.getByTestId('recovery-codes').locator('li');
  await expect(codes).toHaveCount(10);
  const recovery = (await codes.allTextContents()).map((c) => c.trim());
  expect(recovery[0]).toMatch(/^[0-9a-f]{5}-[0-9a-f]{5}$/);
  await expect(section.getByText('On. 10 recovery codes left.')).toBeVisible();
  await signOut(page);

  // The code after the password: a wrong one is refused, the next step's one works.
  await signInWithCode(page, username, password, '12345x');
  await expect(page.getByRole('alert')).toHaveText('Invalid or already used two-factor code');
  await page.getByLabel(CODE_FIELD).fill(totp(secret, 1));
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page.locator('nav[aria-label="Main"]')).toBeVisible();
  await signOut(page);
  // A recovery code works once.
  await signInWithCode(page, username, password, recovery[0]);
  await expect(page.locator('nav[aria-label="Main"]')).toBeVisible();
  await open(page, '/profile');
  await expect(page.getByText('On. 9 recovery codes left.')).toBeVisible();
  await signOut(page);
  await signInWithCode(page, username, password, recovery[0]);
  await expect(page.getByRole('alert')).toHaveText('Invalid or already used two-factor code');

  // Wrong codes count as failed sign-ins (LOGIN_MAX_FAILURES, 10): then even a right code waits.
  let answer = '';
  for (let i = 0; i < 12 && !answer.startsWith('Too many'); i++) {
    await page.getByLabel(CODE_FIELD).fill('99999' + (i % 10));
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expect(page.getByRole('alert')).not.toHaveText('');
    await expect(page.getByRole('button', { name: 'Sign in', exact: true })).toBeEnabled();
    answer = (await page.getByRole('alert').textContent()) ?? '';
  }
  expect(answer).toContain('Too many failed sign-in attempts');
  await page.getByLabel(CODE_FIELD).fill(recovery[1]);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page.getByRole('alert')).toContainText('Too many failed sign-in attempts');
  await expect(page).toHaveURL(/\/login/);

  // A superuser resets it (a lost phone): the next sign-in needs the password only.
  await signIn(page, ADMIN.username, ADMIN.password);
  await open(page, '/users');
  await page.getByRole('button', { name: `Reset the second factor of ${username}` }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Second factor removed' })).toBeVisible();
  const login = await request.post('/api/v1/login/access-token', { form: { username: ADMIN.username, password: ADMIN.password } });
  const { access_token } = await login.json();
  const log = await request.get('/api/v1/audit-log/?action=mfa.', { headers: { Authorization: `Bearer ${access_token}` } });
  const actions = (await log.json()).data.map((e: { action: string; outcome: string }) => `${e.action} ${e.outcome}`);
  expect(actions).toEqual(['mfa.reset success', 'mfa.enable success', 'mfa.enable failure']);
});
