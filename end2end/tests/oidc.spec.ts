import type { Page } from '@playwright/test';
import { test, expect, hydrated, signIn } from './fixtures';
import { USER_PASSWORD } from '../users';

function idp(): { issuer: string; client_id: string; client_secret: string } {
  const config = process.env.WUKONG_E2E_OIDC;
  if (!config) throw new Error('the global setup did not start the OIDC provider');
  return JSON.parse(config);
}

test('an admin adds a provider and a new user signs in through it into their own project', async ({ page, baseURL, browser }) => {
  const { issuer, client_id, client_secret } = idp();
  await signIn(page, baseURL!);
  await page.goto('/admin/oidc');
  await hydrated(page);
  await expect(page.locator('#redirect-uri')).toHaveText(`${baseURL}/auth/oidc/callback`);
  await page.getByLabel('Name (shown on the sign-in button)').fill('Test IdP');
  await page.getByLabel('Issuer URL').fill(issuer);
  await page.getByLabel('Client id').fill(client_id);
  await page.getByLabel('Client secret', { exact: true }).fill(client_secret);
  // New providers are closed to new users until an admin opens them.
  await expect(page.getByLabel('New users allowed')).not.toBeChecked();
  await page.getByLabel('New users allowed').check();
  await page.getByRole('button', { name: 'Save provider' }).click();
  await expect(page.getByRole('cell', { name: 'Test IdP', exact: true })).toBeVisible();
  await expect(page.getByRole('cell', { name: 'Enabled', exact: true })).toBeVisible();
  await expect(page.getByRole('cell', { name: 'Allowed', exact: true })).toBeVisible();

  const stranger = await browser.newContext({ baseURL });
  const newcomer = await stranger.newPage();
  await newcomer.goto('/vms');
  await expect(newcomer).toHaveURL(/\/login\?next=%2Fvms$/);
  await hydrated(newcomer);
  await newcomer.getByRole('link', { name: 'Sign in with Test IdP' }).click();

  // oidc-provider's own sign-in and consent pages.
  await expect(newcomer).toHaveURL(new RegExp(`^${issuer}/`));
  await newcomer.locator('input[name="login"]').fill('alice');
  await newcomer.locator('input[name="password"]').fill('anything');
  await newcomer.getByRole('button', { name: 'Sign-in' }).click();
  await newcomer.getByRole('button', { name: 'Continue' }).click();

  await expect(newcomer).toHaveURL(/\/projects\/alice-[0-9a-f]{6}$/);
  await expect(newcomer.getByRole('heading', { level: 1, name: "User alice's project" })).toBeVisible();
  await expect(newcomer.locator('#project-role')).toHaveText('Owner');
  await newcomer.goto('/account');
  await expect(newcomer.locator('#account-email')).toHaveText('alice@idp.test');
  await expect(newcomer.locator('#linked-identities')).toContainText(`Test IdP (${issuer})`);
  await stranger.close();
});

test('a callback that does not match the browser\'s sign-in is refused with a clear message', async ({ page, pageProblems }) => {
  await page.goto('/auth/oidc/callback?code=forged&state=forged');
  await expect(page).toHaveURL(/\/login\?error=oidc_state$/);
  await expect(page.getByRole('alert')).toHaveText('The sign-in took too long or was started in another browser. Please try again.');
  expect(pageProblems).toEqual([]);
});

/** Fails clearly when the first test did not add the provider named `name`. */
async function expectProvider(page: Page, baseURL: string, name: string): Promise<void> {
  const response = await page.request.post('/api/admin/oidc', { headers: { Origin: baseURL } });
  expect(response.status()).toBe(200);
  const { providers } = await response.json();
  const names = providers.map((provider: { name: string }) => provider.name);
  expect(names, 'the first test adds the provider').toContain(name);
}

test('a user links a provider from the account page with their password, then unlinks it', async ({ page, baseURL, browser }) => {
  const { issuer } = idp();
  await signIn(page, baseURL!);
  await expectProvider(page, baseURL!, 'Test IdP');
  const created = await page.request.post('/api/admin/users/create', {
    form: { email: 'linker@e2e.test', display_name: 'Linker' },
    headers: { Origin: baseURL! },
  });
  expect(created.status()).toBe(200);
  const { password: firstPassword } = await created.json();

  const context = await browser.newContext({ baseURL });
  const linker = await context.newPage();
  const headers = { Origin: baseURL! };
  expect((await linker.request.post('/api/auth/login', { form: { email: 'linker@e2e.test', password: firstPassword }, headers })).status()).toBe(200);
  const changed = await linker.request.post('/api/auth/password', {
    form: { current_password: firstPassword, new_password: USER_PASSWORD, confirm_password: USER_PASSWORD },
    headers,
  });
  expect(changed.status()).toBe(200);

  await linker.goto('/account');
  await hydrated(linker);
  await expect(linker.getByText('No identity provider is linked to this account.')).toBeVisible();
  const linkForm = linker.getByRole('form', { name: 'Link Test IdP' });
  await linkForm.getByLabel('Your password').fill('not the password');
  await linkForm.getByRole('button', { name: 'Link Test IdP' }).click();
  await expect(linkForm.getByRole('alert')).toHaveText('The password is incorrect.');
  await linkForm.getByLabel('Your password').fill(USER_PASSWORD);
  await linkForm.getByRole('button', { name: 'Link Test IdP' }).click();

  await expect(linker).toHaveURL(new RegExp(`^${issuer}/`));
  await linker.locator('input[name="login"]').fill('linker');
  await linker.locator('input[name="password"]').fill('anything');
  await linker.getByRole('button', { name: 'Sign-in' }).click();
  await linker.getByRole('button', { name: 'Continue' }).click();

  await expect(linker).toHaveURL(/\/account\?linked=1$/);
  await hydrated(linker);
  await expect(linker.getByText('The identity provider is linked.')).toBeVisible();
  await expect(linker.locator('#linked-identities')).toContainText(`Test IdP (${issuer}) as linker@idp.test`);
  await expect(linker.getByRole('form', { name: 'Link Test IdP' })).toHaveCount(0);

  await linker.getByText('Unlink', { exact: true }).click();
  const unlinkForm = linker.getByRole('form', { name: 'Unlink Test IdP' });
  await unlinkForm.getByLabel('Your password').fill(USER_PASSWORD);
  linker.once('dialog', (dialog) => dialog.accept());
  await unlinkForm.getByRole('button', { name: 'Unlink Test IdP' }).click();
  await expect(linker.getByText('No identity provider is linked to this account.')).toBeVisible();
  await context.close();
});
