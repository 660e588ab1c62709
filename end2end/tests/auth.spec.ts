import { test, expect, hydrated, signIn, firstRunPassword, ADMIN_EMAIL, ADMIN_PASSWORD } from './fixtures';

test('the first admin signs in, must change the password, then reaches the page asked for', async ({ page, baseURL, pageProblems }) => {
  await page.goto('/projects');
  await expect(page).toHaveURL(/\/login\?next=%2Fprojects$/);
  await hydrated(page);

  await page.getByLabel('Email').fill(ADMIN_EMAIL);
  await page.getByLabel('Password', { exact: true }).fill('not the password at all');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toHaveText('The email or password is incorrect.');

  await page.getByLabel('Password', { exact: true }).fill(firstRunPassword());
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/account\/password$/);
  await expect(page.getByRole('heading', { level: 1, name: 'Change password' })).toBeVisible();
  await hydrated(page);

  await page.getByLabel('Current password').fill(firstRunPassword());
  await page.getByLabel('New password', { exact: true }).fill('password1234');
  await page.getByLabel('Repeat the new password').fill('password1234');
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByText('This password is too common or too easy to guess. Choose another.')).toBeVisible();

  await page.getByLabel('New password', { exact: true }).fill(ADMIN_PASSWORD);
  await page.getByLabel('Repeat the new password').fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeVisible();
  await expect(page.getByText(ADMIN_EMAIL)).toBeVisible();

  // Chromium logs the refused attempts' answers (401, 422) as console errors; only those.
  const refused = (status: string, endpoint: string) =>
    `error: Failed to load resource: the server responded with a status of ${status} (${baseURL}/api/${endpoint})`;
  expect(pageProblems).toEqual([refused('401 (Unauthorized)', 'auth/login'), refused('422 (Unprocessable Entity)', 'auth/password')]);
  pageProblems.length = 0;
});

test('signing out ends the session and pages ask to sign in again', async ({ page, baseURL }) => {
  await signIn(page, baseURL!);
  await page.goto('/vms');
  await hydrated(page);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto('/vms');
  await expect(page).toHaveURL(/\/login\?next=%2Fvms$/);
});
