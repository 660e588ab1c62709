import { test, expect, hydrated, passwordStep, signIn } from './fixtures';
import type { Browser, Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONSOLE_OPERATOR, CONSOLE_VIEWER } from '../users';
import { repoRoot } from '../wukong-process';

/** A running VM in a project of its own, with an operator and a viewer besides the admin. */
interface Setup {
  slug: string;
  vm: string;
}

async function runningVm(page: Page, baseURL: string): Promise<Setup> {
  const headers = { Origin: baseURL };
  await signIn(page, baseURL);
  const created = await page.request.post('/api/projects/create', {
    form: { name: `Consoles ${Date.now().toString(36)}`, description: '' },
    headers,
  });
  expect(created.status()).toBe(200);
  const slug = (await created.json()) as string;
  for (const [email, role] of [
    [CONSOLE_OPERATOR, 'operator'],
    [CONSOLE_VIEWER, 'viewer'],
  ]) {
    const added = await page.request.post('/api/projects/members/add', { form: { slug, email, role }, headers });
    expect(added.status()).toBe(200);
  }
  const vm = `con-${Date.now().toString(36)}`;
  const form = {
    name: vm, project: slug, cpus: '1', memory_mib: '512', image: 'cirros', image_url: '', disk_gib: '',
    ssh_key: '', user_data: '', run_strategy: 'Always',
  };
  expect((await page.request.post('/api/vms/create', { data: { form }, headers })).status()).toBe(200);
  await page.goto(`/projects/${slug}/vms/${vm}`);
  await hydrated(page);
  await expect(page.getByTestId('vm-status')).toContainText('Running', { timeout: 30_000 });
  return { slug, vm };
}

function statusLine(page: Page) {
  return page.getByTestId('console-status');
}

async function openConsole(page: Page, { slug, vm }: Setup, kind: 'console' | 'serial'): Promise<void> {
  await page.goto(`/projects/${slug}/vms/${vm}/${kind}`);
  await hydrated(page);
}

/** The simulator's 5×7 glyphs (simcluster/src/pattern.rs), by character. */
function glyphTable(): Map<string, number[]> {
  const source = readFileSync(join(repoRoot, 'simcluster/src/pattern.rs'), 'utf8');
  const table = new Map<string, number[]>();
  for (const [, character, rows] of source.matchAll(/'(.)' => \[([^\]]*)\]/g)) {
    table.set(character, rows.split(',').map((row) => row.trim()).filter(Boolean).map(Number));
  }
  return table;
}

const BARS = [
  [255, 255, 255], [255, 255, 0], [0, 255, 255], [0, 255, 0], [255, 0, 255], [255, 0, 0], [0, 0, 255], [0, 0, 0],
];
const BAND = [0x1c, 0x24, 0x38];
const INK = [255, 255, 255];

/**
 * Where the simulator's 640×480 picture has which colour: the middle of each bar, and the
 * middle of every cell of the name's glyphs (ink or band), laid out as pattern.rs lays
 * them out.
 */
function expectedPicture(name: string): { points: [number, number][]; colours: number[][] } {
  const glyphs = glyphTable();
  expect(glyphs.size).toBeGreaterThan(30);
  const points: [number, number][] = [];
  const colours: number[][] = [];
  BARS.forEach((colour, bar) => {
    points.push([bar * 80 + 40, 160]);
    colours.push(colour);
  });
  const [width, bandTop, rows, cell] = [640, 320, 160, 6];
  const scale = Math.max(1, Math.min(Math.floor((width * 9) / 10 / (name.length * cell)), Math.floor(rows / 2 / 7)));
  const left = Math.floor((width - (name.length * cell * scale - scale)) / 2);
  const top = bandTop + Math.floor((rows - 7 * scale) / 2);
  [...name].forEach((character, index) => {
    const glyph = glyphs.get(character)!;
    expect(glyph, character).toBeDefined();
    glyph.forEach((bits, row) => {
      for (let column = 0; column < 5; column++) {
        points.push([left + (index * cell + column) * scale + (scale >> 1), top + row * scale + (scale >> 1)]);
        colours.push(bits & (0x10 >> column) ? INK : BAND);
      }
    });
  });
  return { points, colours };
}

/**
 * The colours of the VNC screen at `points`, in the framebuffer's pixels. Read from a copy
 * made for reading, so that the browser sees one readback per call.
 */
async function screenColours(page: Page, points: [number, number][]): Promise<number[][]> {
  return page.getByTestId('console-screen').locator('canvas').first().evaluate((element, points) => {
    const screen = element as HTMLCanvasElement;
    const copy = document.createElement('canvas');
    copy.width = screen.width;
    copy.height = screen.height;
    const context = copy.getContext('2d', { willReadFrequently: true })!;
    context.drawImage(screen, 0, 0);
    const { data } = context.getImageData(0, 0, copy.width, copy.height);
    return points.map(([x, y]) => Array.from(data.slice((y * copy.width + x) * 4, (y * copy.width + x) * 4 + 3)));
  }, points);
}

async function signedIn(browser: Browser, baseURL: string, email: string): Promise<Page> {
  const context = await browser.newContext({ baseURL });
  const page = await context.newPage();
  await passwordStep(page, email);
  await expect(page).not.toHaveURL(/\/login/);
  return page;
}

test('the screen shows the test pattern with the VM name, and the serial console echoes what is typed', async ({
  page,
  baseURL,
}) => {
  test.setTimeout(90_000);
  const setup = await runningVm(page, baseURL!);
  const { vm } = setup;

  await page.getByRole('link', { name: `Console of ${vm}` }).click();
  await expect(page).toHaveURL(new RegExp(`/vms/${vm}/console$`));
  await expect(statusLine(page)).toHaveAttribute('data-state', 'connected');
  const picture = expectedPicture(vm);
  await expect.poll(() => screenColours(page, picture.points)).toEqual(picture.colours);
  await expect(page.getByRole('button', { name: 'Ctrl+Alt+Del' })).toBeEnabled();
  const canvas = page.getByTestId('console-screen').locator('canvas').first();
  await page.getByLabel('Scale').selectOption('1');
  await expect.poll(() => canvas.evaluate((element) => element.getBoundingClientRect().width)).toBe(640);

  await page.getByRole('link', { name: vm, exact: true }).click();
  await page.getByRole('link', { name: `Serial of ${vm}` }).click();
  await expect(page).toHaveURL(new RegExp(`/vms/${vm}/serial$`));
  await expect(statusLine(page)).toHaveAttribute('data-state', 'connected');
  const terminal = page.getByTestId('console-screen');
  await expect(terminal).toContainText(`Simulated serial console of ${vm}`);
  await terminal.click();
  await page.keyboard.type('hello wukong');
  await page.keyboard.press('Enter');
  await expect(terminal).toContainText('you typed: hello wukong');
  // Paste sends the clipboard's text as if typed, line ends as Enter.
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: baseURL });
  await page.evaluate(() => navigator.clipboard.writeText('from the clipboard\n'));
  await page.getByRole('button', { name: 'Paste' }).click();
  await expect(terminal).toContainText('you typed: from the clipboard');
});

test('a second viewer is told the console is in use and takes it over; the first is told who, and takes it back', async ({
  page,
  browser,
  baseURL,
}) => {
  test.setTimeout(90_000);
  const setup = await runningVm(page, baseURL!);
  await openConsole(page, setup, 'console');
  await expect(statusLine(page)).toHaveAttribute('data-state', 'connected');

  const operator = await signedIn(browser, baseURL!, CONSOLE_OPERATOR);
  await openConsole(operator, setup, 'console');
  await expect(statusLine(operator)).toHaveAttribute('data-state', 'in-use');
  await expect(statusLine(operator)).toContainText(/In use by .*admin/i);
  // Told, not displaced: the first viewer keeps the console until it is taken over.
  await expect(statusLine(page)).toHaveAttribute('data-state', 'connected');

  await statusLine(operator).getByRole('button', { name: 'Take over' }).click();
  await expect(statusLine(operator)).toHaveAttribute('data-state', 'connected');
  await expect(statusLine(page)).toHaveAttribute('data-state', 'taken-over');
  await expect(statusLine(page)).toContainText('Taken over by console-operator');

  await statusLine(page).getByRole('button', { name: 'Take back' }).click();
  await expect(statusLine(page)).toHaveAttribute('data-state', 'connected');
  await expect(statusLine(operator)).toHaveAttribute('data-state', 'taken-over');
  await expect(statusLine(operator)).toContainText(/Taken over by .*admin/i);
  await operator.context().close();
});

test('the console reconnects by itself after the VM restarts', async ({ page, baseURL, pageProblems }) => {
  test.setTimeout(120_000);
  const setup = await runningVm(page, baseURL!);
  await openConsole(page, setup, 'console');
  await expect(statusLine(page)).toHaveAttribute('data-state', 'connected');

  const restart = await page.request.post('/api/vms/action', {
    data: { project: setup.slug, name: setup.vm, action: 'Restart' },
    headers: { Origin: baseURL! },
  });
  expect(restart.status()).toBe(200);
  await expect(statusLine(page)).toHaveAttribute('data-state', 'reconnecting', { timeout: 30_000 });
  await expect(statusLine(page)).toHaveAttribute('data-state', 'connected', { timeout: 60_000 });
  const picture = expectedPicture(setup.vm);
  await expect.poll(() => screenColours(page, picture.points)).toEqual(picture.colours);
  // While the VM was down, tickets were refused (the browser logs each refusal); nothing else.
  const unexpected = pageProblems.filter(
    (problem) => !problem.startsWith('error: Failed to load resource') || !problem.includes('/api/console_ticket'),
  );
  expect(unexpected).toEqual([]);
  pageProblems.length = 0;
});

test('signing out in another tab closes the console', async ({ page, baseURL }) => {
  test.setTimeout(90_000);
  const setup = await runningVm(page, baseURL!);
  // The page's live feed would send it to sign in on its own: held open here, so that it is
  // the console's own connection that must end.
  await page.routeWebSocket('**/ws/events', () => {});
  await openConsole(page, setup, 'serial');
  await expect(statusLine(page)).toHaveAttribute('data-state', 'connected');

  const other = await page.context().newPage();
  await other.goto('/');
  await hydrated(other);
  await other.getByRole('button', { name: 'Sign out' }).click();
  await expect(other).toHaveURL(/\/login/);

  await expect(statusLine(page)).toHaveAttribute('data-state', 'signed-out');
  await expect(statusLine(page)).toContainText('Signed out');
});

test('viewers are offered no console, and the console page refuses them', async ({ page, browser, baseURL }) => {
  test.setTimeout(90_000);
  const setup = await runningVm(page, baseURL!);
  const viewer = await signedIn(browser, baseURL!, CONSOLE_VIEWER);
  await viewer.goto(`/projects/${setup.slug}/vms/${setup.vm}`);
  await hydrated(viewer);
  await expect(viewer.getByTestId('vm-status')).toContainText('Running');
  await expect(viewer.getByRole('link', { name: `Console of ${setup.vm}` })).toHaveCount(0);
  await expect(viewer.getByRole('link', { name: `Serial of ${setup.vm}` })).toHaveCount(0);

  await openConsole(viewer, setup, 'console');
  await expect(statusLine(viewer)).toHaveAttribute('data-state', 'not-allowed');
  await viewer.context().close();
});
