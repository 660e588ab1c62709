import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, expect, hydrated } from './fixtures';
import type { Page } from '@playwright/test';
import { REDIRECT_USER, USER_PASSWORD } from '../users';

/** The hostile targets that `safe_next`'s unit tests and the server's URL-parser oracle share. */
const { hostile } = JSON.parse(readFileSync(join(__dirname, '../../app/src/auth/redirect_targets.json'), 'utf8')) as {
  hostile: string[];
};

/** Signs in through the form of the sign-in page the browser is on. */
async function signInThroughForm(page: Page): Promise<void> {
  await hydrated(page);
  await page.getByLabel('Email').fill(REDIRECT_USER);
  await page.getByLabel('Password', { exact: true }).fill(USER_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

// CSRF-05: whatever `next` the sign-in page was opened with, signing in through the form ends
// on Wukong's dashboard, and the browser asks nothing of any other origin on the way. Each
// test has a fresh browser context, so no session or cookie carries over.
for (const [index, target] of hostile.entries()) {
  test(`sign-in opened with hostile next #${index} ${JSON.stringify(target)} stays on Wukong`, async ({ page, baseURL }) => {
    const origin = new URL(baseURL!).origin;
    const elsewhere: string[] = [];
    await page.context().route(
      (url) => url.origin !== origin,
      (route) => {
        elsewhere.push(route.request().url());
        return route.abort();
      },
    );
    await page.goto(`/login?next=${encodeURIComponent(target)}`);
    await signInThroughForm(page);
    await expect(page.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeVisible();
    expect(page.url()).toBe(`${origin}/`);
    expect(elsewhere).toEqual([]);
  });
}

// CSRF-05: a page asked for with escapes in its address is where the sign-in lands, exactly
// as it was asked for (the sign-in page reads `next` decoded once, not twice).
for (const target of ['/account?name=a%20b', '/projects?from=%2F%2Fevil.example%5C']) {
  test(`a page asked for without a session, ${target}, is where the sign-in lands`, async ({ page, baseURL }) => {
    const origin = new URL(baseURL!).origin;
    await page.goto(target);
    await expect(page).toHaveURL(`${origin}/login?next=${encodeURIComponent(target)}`);
    await signInThroughForm(page);
    await expect(page).toHaveURL(`${origin}${target}`);
    await hydrated(page);
  });
}
