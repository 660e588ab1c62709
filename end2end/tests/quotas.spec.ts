import { test, expect, hydrated, signIn } from './fixtures';
import type { Page } from '@playwright/test';

/** The row of the create or resize form's room table for one resource. */
function room(page: Page, resource: string) {
  return page.getByTestId('quota-room').locator(`tr[data-resource="${resource}"]`);
}

/** Fills the create form for a small stopped VM and sends it. */
async function createVm(page: Page, name: string, memoryMib: string): Promise<void> {
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('vCPUs').fill('1');
  await page.getByLabel('Memory (MiB)').fill(memoryMib);
  await page.getByLabel('Image', { exact: true }).selectOption('cirros');
  await page.getByLabel('When it runs').selectOption('Halted');
  await page.getByRole('button', { name: 'Create VM' }).click();
}

test('the create form shows the room left, refuses a VM too large for it, and follows another browser taking room', async ({
  page,
  browser,
  baseURL,
  pageProblems,
}) => {
  test.setTimeout(90_000);
  const headers = { Origin: baseURL! };
  await signIn(page, baseURL!);

  // A project with 16384 MiB of memory, 14336 of them taken by a stopped VM: 2048 free.
  const created = await page.request.post('/api/projects/create', {
    form: { name: `Quota ${Date.now().toString(36)}`, description: '' },
    headers,
  });
  expect(created.status()).toBe(200);
  const slug = (await created.json()) as string;
  const limits = {
    vcpus: '16', memory_mib: '16384', disk_gib: '100', vm_count: '10', snapshot_count: '10', snapshot_gib: '100',
  };
  const set = await page.request.post('/api/quotas/project/set', { data: { slug, choice: { Custom: limits } }, headers });
  expect(set.status()).toBe(200);
  const big = {
    name: 'big', project: slug, cpus: '2', memory_mib: '14336', image: 'cirros', image_url: '', disk_gib: '',
    ssh_key: '', user_data: '', run_strategy: 'Halted',
  };
  expect((await page.request.post('/api/vms/create', { data: { form: big }, headers })).status()).toBe(200);

  // The room before anything is sent, and what this VM would leave as it is typed.
  await page.goto(`/vms/new?project=${slug}`);
  await hydrated(page);
  await expect(room(page, 'memory_mib')).toContainText('2048 of 16384 MiB free');
  await expect(room(page, 'vcpus')).toContainText('14 of 16 free');
  await expect(room(page, 'vm_count')).toContainText('9 of 10 free');
  await page.getByLabel('Memory (MiB)').fill('1024');
  await expect(room(page, 'memory_mib')).toContainText('1024 MiB left');

  // Too large: the form says so before it is sent, and the server refuses it in the same words.
  const refusal = `memory: 8192 MiB requested, 2048 of 16384 MiB free in project ${slug}`;
  await page.getByLabel('Memory (MiB)').fill('8192');
  await expect(room(page, 'memory_mib')).toContainText('6144 MiB short');
  await expect(page.getByTestId('quota-warning')).toHaveText(refusal);
  await createVm(page, `huge-${Date.now().toString(36)}`, '8192');
  await expect(page.locator('form .form-error')).toContainText(refusal);
  await expect(page).toHaveURL(/\/vms\/new/);
  // Chromium logs the refusal's answer (409) as a console error; only that.
  expect(pageProblems).toEqual([
    `error: Failed to load resource: the server responded with a status of 409 (Conflict) (${baseURL}/api/vms/create)`,
  ]);
  pageProblems.length = 0;

  // A second browser's open form follows the room another takes, without a reload.
  const otherContext = await browser.newContext({ baseURL });
  const other = await otherContext.newPage();
  await signIn(other, baseURL!);
  await other.goto(`/vms/new?project=${slug}`);
  await hydrated(other);
  await expect(room(other, 'memory_mib')).toContainText('2048 of 16384 MiB free');
  await other.evaluate(() => ((window as unknown as { wukongMarker: boolean }).wukongMarker = true));

  const small = `small-${Date.now().toString(36)}`;
  await createVm(page, small, '1024');
  await expect(page).toHaveURL(new RegExp(`/projects/${slug}/vms/${small}$`));
  await expect(room(other, 'memory_mib')).toContainText('1024 of 16384 MiB free', { timeout: 5_000 });
  await expect(room(other, 'vm_count')).toContainText('8 of 10 free');
  expect(await other.evaluate(() => (window as unknown as { wukongMarker?: boolean }).wukongMarker)).toBe(true);
  await otherContext.close();

  // The stopped VM's resize form shows the same room and the same refusal.
  await hydrated(page);
  await expect(page.getByTestId('vm-status')).toContainText('Stopped');
  const resize = page.getByTestId('resize-form');
  await resize.getByLabel('Memory (MiB)').fill('4096');
  await expect(page.getByTestId('quota-warning')).toHaveText(
    `memory: 3072 MiB requested, 1024 of 16384 MiB free in project ${slug}`,
  );
  // Growing by what is left fits, and takes it.
  await resize.getByLabel('Memory (MiB)').fill('2048');
  await expect(page.getByTestId('quota-warning')).toHaveText('');
  await resize.getByRole('button', { name: 'Resize' }).click();
  await expect(room(page, 'memory_mib').locator('td').first()).toHaveText('0 of 16384 MiB free');
});
