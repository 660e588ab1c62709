import { test, expect, hydrated } from './fixtures';
import { createUser, startWukong, stopWukong } from '../wukong-process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const EMAIL = 'restart@e2e.test';
const PASSWORD = 'restart test passphrase';

test('when Wukong and its simulated cluster restart, an open VM list reconnects and shows the right state without a reload', async ({
  page,
  pageProblems,
}) => {
  test.setTimeout(120_000);
  // A Wukong of this test's own, so that stopping it leaves the other tests' server alone.
  const dataDir = mkdtempSync(join(tmpdir(), 'wukong-e2e-restart-'));
  createUser(dataDir, EMAIL, PASSWORD, true);
  let wukong = await startWukong(dataDir);
  const base = `http://${wukong.address}`;
  const headers = { Origin: base };
  try {
    const login = await page.request.post(`${base}/api/auth/login`, { form: { email: EMAIL, password: PASSWORD }, headers });
    expect(login.status()).toBe(200);
    const projects = await page.request.post(`${base}/api/vms/projects`, { headers });
    const [{ slug: project }] = (await projects.json()) as { slug: string }[];
    const name = 'survivor';
    const form = {
      name, project, cpus: '1', memory_mib: '512', image: 'cirros', image_url: '', disk_gib: '',
      ssh_key: '', user_data: '', run_strategy: 'Halted',
    };
    expect((await page.request.post(`${base}/api/vms/create`, { data: { form }, headers })).status()).toBe(200);

    await page.goto(`${base}/vms`);
    await hydrated(page);
    const live = page.locator('.live-indicator');
    const status = page.locator(`tr[data-vm="${name}"] [data-status]`);
    await expect(live).toHaveText('Live');
    await expect(status).toHaveAttribute('data-status', 'Stopped');
    await page.evaluate(() => ((window as unknown as { wukongMarker: boolean }).wukongMarker = true));

    await stopWukong(wukong);
    await expect(live).toHaveText('Reconnecting…');
    wukong = await startWukong(dataDir, wukong.address);
    await expect(live).toHaveText('Live', { timeout: 30_000 });

    // A change made after the restart reaches the page that never reloaded.
    const start = await page.request.post(`${base}/api/vms/action`, { data: { project, name, action: 'Start' }, headers });
    expect(start.status()).toBe(200);
    await expect(status).toHaveAttribute('data-status', 'Running', { timeout: 20_000 });
    expect(await page.evaluate(() => (window as unknown as { wukongMarker?: boolean }).wukongMarker)).toBe(true);
  } finally {
    await stopWukong(wukong);
    rmSync(dataDir, { recursive: true, force: true });
  }
  // While the server was down the browser logged its failed reconnection attempts; those,
  // and only those, are expected.
  const expected = /ws\/events|ERR_CONNECTION_REFUSED|Failed to fetch|api\/auth\/me/;
  const unexpected = pageProblems.filter((problem) => !expected.test(problem));
  pageProblems.splice(0, pageProblems.length, ...unexpected);
});
