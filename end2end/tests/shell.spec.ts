import { test, expect, hydrated, signIn } from './fixtures';
import { resolve } from 'node:path';

test('the dashboard renders on the server, hydrates, and is pictured for the README', async ({ page, baseURL }) => {
  await signIn(page, baseURL!);
  const response = await page.goto('/');
  expect(response?.status()).toBe(200);
  await expect(page.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeVisible();
  await expect(page.getByTestId('database')).toHaveText('SQLite');
  await expect(page.getByTestId('cluster')).toHaveText('Simulated cluster');
  await expect(page.getByRole('status').filter({ hasText: 'Simulated cluster' })).toBeVisible();
  await hydrated(page);
  await page.screenshot({ path: resolve(__dirname, '../../docs/screenshot.png') });
});

test('an interaction that needs the WASM changes the page', async ({ page }) => {
  await page.goto('/login');
  await hydrated(page);
  const password = page.getByLabel('Password', { exact: true });
  await expect(password).toHaveAttribute('type', 'password');
  await page.getByLabel('Show password').check();
  await expect(password).toHaveAttribute('type', 'text');
  await page.getByLabel('Show password').uncheck();
  await expect(password).toHaveAttribute('type', 'password');
});

test('navigation moves between sections without reloading', async ({ page, baseURL }) => {
  await signIn(page, baseURL!);
  await page.goto('/');
  await hydrated(page);
  await page.evaluate(() => ((window as unknown as { wukongMarker: boolean }).wukongMarker = true));
  const nav = page.getByRole('navigation', { name: 'Main' });
  for (const [label, path] of [
    ['Virtual machines', '/vms'],
    ['Projects', '/projects'],
    ['Audit log', '/audit'],
    ['Admin', '/admin'],
    ['Dashboard', '/'],
  ]) {
    await nav.getByRole('link', { name: label }).click();
    await expect(page).toHaveURL(new RegExp(`${path}$`));
    await expect(page.getByRole('heading', { level: 1, name: label })).toBeVisible();
    await expect(nav.getByRole('link', { name: label })).toHaveAttribute('aria-current', 'page');
  }
  expect(await page.evaluate(() => (window as unknown as { wukongMarker?: boolean }).wukongMarker)).toBe(true);
});

test('pages and server-fn answers reach the browser compressed', async ({ page, baseURL }) => {
  await signIn(page, baseURL!);
  const response = await page.goto('/');
  expect((await response!.allHeaders())['content-encoding']).toBe('br');
  await hydrated(page);
  const answer = page.waitForResponse(
    (candidate) => candidate.url().includes('/api/vms/') && candidate.request().method() === 'POST',
  );
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Virtual machines' }).click();
  expect((await (await answer).allHeaders())['content-encoding']).toBe('br');
});

test('the bundle arrives precompressed under hashed names, and a second visit fetches none of it', async ({ page }) => {
  const bundle = /\/pkg\/[0-9a-f]{16}\/wukong\.(js|wasm)$/;
  const extension = (url: string) => url.slice(url.lastIndexOf('.') + 1);
  const fetched: { url: string; status: number; headers: Record<string, string> }[] = [];
  page.on('response', async (response) => {
    if (bundle.test(response.url())) {
      fetched.push({ url: response.url(), status: response.status(), headers: await response.allHeaders() });
    }
  });
  await page.goto('/login');
  await hydrated(page);
  await expect.poll(() => fetched.map(({ url }) => extension(url)).sort()).toEqual(['js', 'wasm']);
  for (const { url, status, headers } of fetched) {
    expect(status, url).toBe(200);
    expect(headers['content-encoding'], url).toBe('br');
    expect(headers['cache-control'], url).toBe('public, max-age=31536000, immutable');
  }

  const second = await page.context().newPage();
  await second.goto('/login');
  await hydrated(second);
  const loaded = await second.evaluate(() =>
    performance.getEntriesByType('resource').map((entry) => ({
      url: entry.name,
      transferSize: (entry as PerformanceResourceTiming).transferSize,
    })),
  );
  const again = loaded.filter(({ url }) => bundle.test(url));
  expect([...new Set(again.map(({ url }) => extension(url)))].sort()).toEqual(['js', 'wasm']);
  for (const { url, transferSize } of again) {
    expect(transferSize, `${url} came over the network again`).toBe(0);
  }
});

test('a rarely used page comes in its own chunk: opened first it hydrates, and its code is kept like the rest', async ({ page, baseURL }) => {
  await signIn(page, baseURL!);
  const chunks: { url: string; status: number; headers: Record<string, string> }[] = [];
  page.on('response', async (response) => {
    if (/\/pkg\/[0-9a-f]{16}\/split_.*password_page.*\.wasm$/.test(response.url())) {
      chunks.push({ url: response.url(), status: response.status(), headers: await response.allHeaders() });
    }
  });
  await page.goto('/account/password');
  await hydrated(page);
  await expect(page.getByRole('heading', { level: 1, name: 'Change password' })).toBeVisible();
  await expect.poll(() => chunks.length).toBe(1);
  expect(chunks[0].status).toBe(200);
  expect(chunks[0].headers['content-encoding']).toBe('br');
  expect(chunks[0].headers['cache-control']).toBe('public, max-age=31536000, immutable');

  // A page that failed to hydrate would leave the links to full page loads.
  await page.evaluate(() => ((window as unknown as { wukongMarker: boolean }).wukongMarker = true));
  const nav = page.getByRole('navigation', { name: 'Main' });
  await nav.getByRole('link', { name: 'Admin' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Admin' })).toBeVisible();
  await nav.getByRole('link', { name: 'Virtual machines' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Virtual machines' })).toBeVisible();
  expect(await page.evaluate(() => (window as unknown as { wukongMarker?: boolean }).wukongMarker)).toBe(true);
});

test('an unknown address shows the not-found page with status 404', async ({ page, pageProblems, baseURL }) => {
  await signIn(page, baseURL!);
  const response = await page.goto('/no/such/page');
  expect(response?.status()).toBe(404);
  // Chromium logs the document's own 404 as a console error; only that entry is expected.
  const documentNotFound = `error: Failed to load resource: the server responded with a status of 404 (Not Found) (${response!.url()})`;
  expect(pageProblems).toEqual([documentNotFound]);
  pageProblems.length = 0;
  await expect(page.getByRole('heading', { level: 1, name: 'Page not found' })).toBeVisible();
  await hydrated(page);
  await page.getByRole('link', { name: 'Back to the dashboard' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeVisible();
});

test('the theme follows the system colour scheme', async ({ page, baseURL }) => {
  await signIn(page, baseURL!);
  const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const brightness = (rgb: string) => {
    const [r, g, b] = rgb.match(/\d+/g)!.map(Number);
    return (r * 299 + g * 587 + b * 114) / 1000;
  };
  await page.emulateMedia({ colorScheme: 'light' });
  await page.goto('/');
  const light = brightness(await background());
  await page.emulateMedia({ colorScheme: 'dark' });
  const dark = brightness(await background());
  expect(light).toBeGreaterThan(200);
  expect(dark).toBeLessThan(60);
});

test('the keyboard reaches the content first and the menu on small screens', async ({ page, baseURL }) => {
  await signIn(page, baseURL!);
  await page.setViewportSize({ width: 420, height: 800 });
  await page.goto('/');
  await hydrated(page);
  await page.keyboard.press('Tab');
  const skip = page.getByRole('link', { name: 'Skip to content' });
  await expect(skip).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.locator('main#main')).toBeFocused();

  const menu = page.getByRole('button', { name: 'Menu' });
  const nav = page.getByRole('navigation', { name: 'Main' });
  await expect(nav).toBeHidden();
  await menu.focus();
  await page.keyboard.press('Enter');
  await expect(menu).toHaveAttribute('aria-expanded', 'true');
  await expect(nav).toBeVisible();
  await nav.getByRole('link', { name: 'Projects' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Projects' })).toBeVisible();
  await expect(nav).toBeHidden();
});
