import { test, expect, hydrated, passwordStep, signIn } from './fixtures';
import { readFileSync } from 'node:fs';
import { PROJECT_USER } from '../users';

test('an admin shares a project: a viewer sees its VM without actions, as operator starts it, and once removed sees it vanish', async ({
  page,
  browser,
  baseURL,
}) => {
  test.setTimeout(120_000);
  const headers = { Origin: baseURL! };
  await signIn(page, baseURL!);
  const name = `Team ${Date.now().toString(36)}`;
  await page.goto('/projects');
  await hydrated(page);
  await page.getByText('Create a project').click();
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByRole('button', { name: 'Create project' }).click();
  await expect(page).toHaveURL(/\/projects\/team-[a-z0-9-]+$/);
  await hydrated(page);
  const slug = new URL(page.url()).pathname.split('/').pop()!;
  await expect(page.locator('#project-role')).toHaveText('Owner');

  await page.getByLabel('Add a member by email').fill(PROJECT_USER);
  await page.getByLabel('Role', { exact: true }).selectOption('viewer');
  await page.getByRole('button', { name: 'Add member' }).click();
  const memberRow = page.locator(`tr[data-member="${PROJECT_USER}"]`);
  await expect(memberRow).toBeVisible();

  const vm = `shared-${Date.now().toString(36)}`;
  const form = {
    name: vm, project: slug, cpus: '1', memory_mib: '512', image: 'cirros', image_url: '', disk_gib: '',
    ssh_key: '', user_data: '', run_strategy: 'Halted',
  };
  expect((await page.request.post('/api/vms/create', { data: { form }, headers })).status()).toBe(200);

  const memberContext = await browser.newContext({ baseURL });
  const member = await memberContext.newPage();
  await passwordStep(member, PROJECT_USER);
  await expect(member).not.toHaveURL(/\/login/);
  await member.goto('/vms');
  await hydrated(member);
  await expect(member.getByRole('status').filter({ hasText: 'Live' })).toBeVisible();
  const row = member.locator(`tr[data-vm="${vm}"]`);
  await expect(row).toContainText(name);
  await expect(row.getByRole('button')).toHaveCount(0);
  await expect(row.getByRole('link', { name: `Console of ${vm}` })).toHaveCount(0);
  // What the page leaves out, the server refuses.
  const crafted = await member.request.post('/api/vms/action', { data: { project: slug, name: vm, action: 'Start' }, headers });
  expect(crafted.status()).toBe(403);

  // Promoted: the open page offers the actions without a reload, and they work.
  await memberRow.getByLabel(`Role of ${PROJECT_USER}`).selectOption('operator');
  const start = row.getByRole('button', { name: `Start ${vm}` });
  await expect(start).toBeVisible();
  await start.click();
  await expect(row.locator('[data-status]')).toHaveAttribute('data-status', 'Running');
  // As operator, the running VM's consoles are a click away.
  await expect(row.getByRole('link', { name: `Console of ${vm}` })).toHaveAttribute('href', `/projects/${slug}/vms/${vm}/console`);
  await expect(row.getByRole('link', { name: `Serial of ${vm}` })).toHaveAttribute('href', `/projects/${slug}/vms/${vm}/serial`);

  // Removed: the VM vanishes from the member's open page.
  await memberRow.getByRole('button', { name: 'Remove' }).click();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Remove' }).click();
  await expect(memberRow).toHaveCount(0);
  await expect(row).toHaveCount(0);
  await memberContext.close();

  // The project's audit log lists all of it, and its CSV export downloads and parses.
  await page.locator('main').getByRole('link', { name: 'Audit log' }).click();
  await expect(page).toHaveURL(new RegExp(`/projects/${slug}/audit$`));
  const events = ['project_created', 'project_member_added', 'vm_created', 'project_role_changed', 'vm_action', 'project_member_removed'];
  for (const event of events) {
    await expect(page.locator('table.audit td', { hasText: new RegExp(`^${event}$`) }).first()).toBeVisible();
  }
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'CSV' }).click()]);
  const csv = readFileSync((await download.path())!, 'utf8');
  const [header, ...rows] = csv.trim().split('\r\n');
  expect(header).toBe('time_ms,actor,ip,event,target_type,target,outcome,severity,details');
  const exported = rows.map((line) => line.split(',')[3]);
  for (const event of events) expect(exported).toContain(event);
});
