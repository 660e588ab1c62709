import { test, expect, hydrated, signIn } from './fixtures';

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
  await page.getByRole('button', { name: 'Save provider' }).click();
  await expect(page.getByRole('cell', { name: 'Test IdP', exact: true })).toBeVisible();
  await expect(page.getByRole('cell', { name: 'Enabled', exact: true })).toBeVisible();

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
  await expect(newcomer.locator('#project-role')).toHaveText('owner');
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
