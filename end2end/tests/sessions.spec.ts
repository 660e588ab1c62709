import { test, expect, hydrated, passwordStep } from './fixtures';
import { DEVICES_USER } from '../users';

test('from a second browser the user ends the first session, which is sent to sign in', async ({ browser, baseURL }) => {
  const first = await browser.newContext({ baseURL });
  const second = await browser.newContext({ baseURL });
  const a = await first.newPage();
  const b = await second.newPage();
  await passwordStep(a, DEVICES_USER);
  await expect(a.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeVisible();
  await passwordStep(b, DEVICES_USER);
  await expect(b.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeVisible();

  await b.getByRole('link', { name: DEVICES_USER }).click();
  await expect(b.getByRole('heading', { level: 1, name: 'Account' })).toBeVisible();
  await hydrated(b);
  const rows = b.locator('table.sessions tbody tr');
  await expect(rows).toHaveCount(2);
  await expect(b.locator('table.sessions tr.current')).toContainText('This device');
  await expect(rows.first()).toContainText('Chrome on Linux');
  await expect(rows.first()).toContainText('127.0.0.1');

  b.once('dialog', (dialog) => dialog.accept());
  await b.locator('table.sessions').getByRole('button', { name: /^Sign out / }).click();
  await expect(rows).toHaveCount(1);

  // The first browser's live socket closes with its session, and the page goes to sign in.
  await expect(a).toHaveURL(/\/login$/);
  await a.goto('/vms');
  await expect(a).toHaveURL(/\/login\?next=%2Fvms$/);
  await b.goto('/vms');
  await expect(b.getByRole('heading', { level: 1, name: 'Virtual machines' })).toBeVisible();
  await first.close();
  await second.close();
});
