import { test, expect, hydrated, signIn } from './fixtures';
import type { Page } from '@playwright/test';

/** The status cell of `name`'s row in the VM list. */
function statusOf(page: Page, name: string) {
  return page.locator(`tr[data-vm="${name}"] [data-status]`);
}

test('a VM is created, started, stopped and deleted live, and a second browser sees each change within 1 s', async ({
  page,
  browser,
  baseURL,
}) => {
  test.setTimeout(90_000);
  await signIn(page, baseURL!);
  const otherContext = await browser.newContext({ baseURL });
  const other = await otherContext.newPage();
  await signIn(other, baseURL!);
  await other.goto('/vms');
  await hydrated(other);
  await expect(other.getByRole('status').filter({ hasText: 'Live' })).toBeVisible();

  const name = `e2e-${Date.now().toString(36)}`;
  await page.goto('/vms/new');
  await hydrated(page);
  // The browser checks the form before sending it, field by field.
  await page.getByLabel('Name').fill('Not_Valid');
  await page.getByRole('button', { name: 'Create VM' }).click();
  await expect(page.getByText("Use only lowercase letters, digits and '-'.")).toBeVisible();
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('vCPUs').fill('2');
  await page.getByLabel('Memory (MiB)').fill('1024');
  await page.getByLabel('Image', { exact: true }).selectOption('cirros');
  await page.getByLabel('When it runs').selectOption('Halted');
  await page.getByRole('button', { name: 'Create VM' }).click();
  await expect(page).toHaveURL(new RegExp(`/projects/[^/]+/vms/${name}$`));
  await expect(page.getByTestId('vm-status')).toContainText('Stopped');
  // A stopped VM has no console to open.
  await expect(page.getByRole('button', { name: `Console of ${name}` })).toBeDisabled();
  await expect(page.getByRole('button', { name: `Serial of ${name}` })).toBeDisabled();

  // To the list without a reload: the page keeps a marker that a reload would drop.
  await page.evaluate(() => ((window as unknown as { wukongMarker: boolean }).wukongMarker = true));
  await page.getByRole('link', { name: 'Virtual machines' }).first().click();
  await expect(statusOf(page, name)).toHaveAttribute('data-status', 'Stopped');
  await expect(statusOf(other, name)).toHaveAttribute('data-status', 'Stopped', { timeout: 1_000 });

  await page.getByRole('button', { name: `Start ${name}` }).click();
  for (const status of ['Starting', 'Running']) {
    await expect(statusOf(page, name)).toHaveAttribute('data-status', status);
    await expect(statusOf(other, name)).toHaveAttribute('data-status', status, { timeout: 1_000 });
  }
  await expect(page.locator(`tr[data-vm="${name}"]`)).toContainText('sim-node-1');
  await expect(page.getByRole('link', { name: `Console of ${name}` })).toHaveAttribute('href', new RegExp(`/vms/${name}/console$`));

  // Stop asks first; cancelling changes nothing.
  await page.getByRole('button', { name: `Stop ${name}` }).click();
  const dialog = page.getByRole('alertdialog');
  await expect(dialog).toContainText(`Stop ${name}?`);
  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();
  await expect(statusOf(page, name)).toHaveAttribute('data-status', 'Running');
  await page.getByRole('button', { name: `Stop ${name}` }).click();
  await dialog.getByRole('button', { name: 'Stop' }).click();
  for (const status of ['Stopping', 'Stopped']) {
    await expect(statusOf(page, name)).toHaveAttribute('data-status', status);
    await expect(statusOf(other, name)).toHaveAttribute('data-status', status, { timeout: 1_000 });
  }

  await page.getByRole('link', { name, exact: true }).click();
  await page.getByRole('button', { name: 'Delete' }).click();
  await expect(dialog).toContainText(`Delete ${name}?`);
  await dialog.getByRole('button', { name: 'Delete' }).click();
  await expect(page).toHaveURL(/\/vms$/);
  await expect(page.locator(`tr[data-vm="${name}"]`)).toHaveCount(0);
  await expect(other.locator(`tr[data-vm="${name}"]`)).toHaveCount(0, { timeout: 1_000 });
  expect(await page.evaluate(() => (window as unknown as { wukongMarker?: boolean }).wukongMarker)).toBe(true);
  await otherContext.close();
});

test('the VM page shows why: the import, interfaces, guest OS and events live, and only the actions its run strategy allows', async ({
  page,
  baseURL,
}) => {
  test.setTimeout(90_000);
  await signIn(page, baseURL!);
  const name = `imp-${Date.now().toString(36)}`;
  await page.goto('/vms/new');
  await hydrated(page);
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Image', { exact: true }).selectOption('url');
  await page.getByLabel('Image URL').fill('https://images.example.test/fedora-41.qcow2');
  await page.getByLabel('Disk size (GiB)').fill('5');
  await page.getByLabel('When it runs').selectOption('Always');
  await page.getByRole('button', { name: 'Create VM' }).click();
  await expect(page).toHaveURL(new RegExp(`/projects/[^/]+/vms/${name}$`));

  // CDI's import, followed without a reload until it is done; the VM starts after it.
  const imports = page.getByTestId('vm-imports');
  await expect(imports).toContainText(`${name}-root`);
  await expect(imports.getByRole('progressbar')).toBeVisible();
  await expect(imports).toContainText('Succeeded', { timeout: 60_000 });
  await expect(page.getByTestId('vm-status')).toContainText('Running', { timeout: 30_000 });
  await expect(page.getByTestId('vm-interfaces')).toContainText('10.244.');
  await expect(page.getByTestId('vm-guest-os')).toContainText('Fedora', { timeout: 30_000 });
  const events = page.getByTestId('vm-events');
  await expect(events).toContainText('ImportSucceeded');
  await expect(events).toContainText('Started the virtual machine by creating the new virtual machine instance');

  // A VM that always runs takes no start request (virt-api refuses one); stop and restart it may.
  await expect(page.getByRole('button', { name: `Start ${name}`, exact: true })).toBeDisabled();
  await expect(page.getByRole('button', { name: `Restart ${name}`, exact: true })).toBeEnabled();
  await expect(page.getByRole('button', { name: `Stop ${name}`, exact: true })).toBeEnabled();

  await page.getByRole('button', { name: 'Delete' }).click();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Delete' }).click();
  await expect(page).toHaveURL(/\/vms$/);
});
