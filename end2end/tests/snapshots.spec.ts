import { test, expect, hydrated, signIn } from './fixtures';

test('a running VM is snapshotted, restored after stopping and cloned, each seen live without a reload', async ({
  page,
  baseURL,
}) => {
  test.setTimeout(120_000);
  await signIn(page, baseURL!);
  const name = `snap-${Date.now().toString(36)}`;
  await page.goto('/vms/new');
  await hydrated(page);
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Image', { exact: true }).selectOption('cirros');
  await page.getByLabel('When it runs').selectOption('Always');
  await page.getByRole('button', { name: 'Create VM' }).click();
  await expect(page).toHaveURL(new RegExp(`/projects/[^/]+/vms/${name}$`));
  await expect(page.getByTestId('vm-status')).toContainText('Running');
  // Nothing below reloads the page: a reload would drop this marker.
  await page.evaluate(() => ((window as unknown as { wukongMarker: boolean }).wukongMarker = true));

  // Take a snapshot of the running VM and watch it become ready.
  const snapshots = page.getByRole('region', { name: 'Snapshots' });
  await snapshots.getByLabel('Snapshot name').fill('before-change');
  await snapshots.getByLabel('Description').fill('Before the risky change');
  await snapshots.getByRole('button', { name: 'Take snapshot' }).click();
  const row = snapshots.getByTestId('snapshot-before-change');
  await expect(row).toBeVisible();
  await expect(row.getByTestId('snapshot-status')).toHaveText('Ready');
  await expect(row).toContainText('Online');
  await expect(row).toContainText('Before the risky change');

  // Restore: the VM runs, so Wukong offers to stop it first, then restores.
  await row.getByRole('button', { name: 'Restore' }).click();
  const dialog = page.getByRole('alertdialog');
  await expect(dialog).toContainText(`Restore ${name} to snapshot before-change? It is stopped first.`);
  await dialog.getByRole('button', { name: 'Restore' }).click();
  await expect(page.getByTestId('vm-status')).toContainText('Stopped');
  const restore = snapshots.getByTestId('restore-before-change');
  await expect(restore.getByTestId('restore-state')).toHaveText('Complete');

  // Clone the VM from the snapshot; the new VM appears in the clones and in the VM list.
  const copy = `${name}-copy`;
  await snapshots.getByLabel('From').selectOption('before-change');
  await snapshots.getByLabel('New VM name').fill(copy);
  await snapshots.getByRole('button', { name: 'Clone' }).click();
  await expect(snapshots.getByTestId(`clone-${copy}`).getByTestId('clone-phase')).toHaveText('Succeeded');
  await page.getByRole('link', { name: 'Virtual machines' }).first().click();
  await expect(page.locator(`tr[data-vm="${copy}"]`)).toBeVisible();
  expect(await page.evaluate(() => (window as unknown as { wukongMarker?: boolean }).wukongMarker)).toBe(true);
});
