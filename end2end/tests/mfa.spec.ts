import { test, expect, hydrated, passwordStep, totp } from './fixtures';
import { MFA_USER, USER_PASSWORD } from '../users';

test('a user enrols TOTP, signs in with a code, and a backup code works only once', async ({ page, baseURL, pageProblems }) => {
  await passwordStep(page, MFA_USER);
  await expect(page.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeVisible();

  await page.goto('/account/mfa');
  await hydrated(page);
  await page.getByLabel('Confirm with your password').fill(USER_PASSWORD);
  await page.getByRole('button', { name: 'Set up two-factor sign-in' }).click();
  await expect(page.getByRole('img', { name: 'QR code for your authenticator app' })).toBeVisible();
  const secret = (await page.locator('#totp-secret').textContent())!.trim();
  await expect(page.locator('#totp-uri')).toHaveText(`otpauth://totp/Wukong:mfa%40e2e.test?secret=${secret}&issuer=Wukong&algorithm=SHA1&digits=6&period=30`);
  await page.getByLabel('Enter the 6-digit code the app shows').fill(totp(secret));
  await page.getByRole('button', { name: 'Turn on' }).click();
  await expect(page.locator('#backup-codes li')).toHaveCount(10);
  const backupCodes = (await page.locator('#backup-codes li').allTextContents()).map((code) => code.trim());
  await page.getByRole('button', { name: 'I have saved my backup codes' }).click();
  await expect(page.locator('#backup-codes-left')).toHaveText('10 of 10 backup codes left.');
  await hydrated(page);

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login$/);
  await passwordStep(page, MFA_USER);
  await expect(page).toHaveURL(/\/login\/mfa\?next=%2F$/);
  await hydrated(page);
  // The enrolment used the current time step; the app's next code is valid too.
  await page.getByLabel('Code', { exact: true }).fill(totp(secret, 1));
  await page.getByRole('button', { name: 'Continue' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeVisible();
  // Signing out before the page hydrates would post the form natively instead.
  await hydrated(page);

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login$/);
  await passwordStep(page, MFA_USER);
  await expect(page).toHaveURL(/\/login\/mfa/);
  await hydrated(page);
  await page.getByLabel('Code', { exact: true }).fill(backupCodes[0]);
  await page.getByRole('button', { name: 'Continue' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeVisible();
  await page.goto('/account/mfa');
  await expect(page.locator('#backup-codes-left')).toHaveText('9 of 10 backup codes left.');

  await hydrated(page);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login$/);
  await passwordStep(page, MFA_USER);
  await expect(page).toHaveURL(/\/login\/mfa/);
  await hydrated(page);
  await page.getByLabel('Code', { exact: true }).fill(backupCodes[0]);
  await page.getByRole('button', { name: 'Continue' }).click();
  await expect(page.getByRole('alert')).toHaveText('That code is not valid.');
  await expect(page).toHaveURL(/\/login\/mfa/);

  // Chromium logs the refused code's answer as a console error; only that.
  expect(pageProblems).toEqual([
    `error: Failed to load resource: the server responded with a status of 422 (Unprocessable Entity) (${baseURL}/api/auth/mfa/verify)`,
  ]);
  pageProblems.length = 0;
});
