import { test as base, expect, type Page } from '@playwright/test';
import { createHmac } from 'node:crypto';
import { USER_PASSWORD } from '../users';

/**
 * Every test talks to the server started by the global setup, and fails if its page logs
 * an error or warning: hydration mismatches, CSP violations and panics all surface there.
 */
export const test = base.extend<{ pageProblems: string[] }>({
  baseURL: async ({}, use) => {
    const url = process.env.WUKONG_E2E_BASE_URL;
    if (!url) throw new Error('WUKONG_E2E_BASE_URL is not set: the global setup did not run');
    await use(url);
  },
  pageProblems: [
    async ({ page }, use) => {
      const problems: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error' || message.type() === 'warning') {
          problems.push(`${message.type()}: ${message.text()} (${message.location().url})`);
        }
      });
      page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
      await use(problems);
      expect(problems, 'console errors and warnings').toEqual([]);
    },
    { auto: true },
  ],
});

export { expect };

/** Waits until the WASM has hydrated the page (the frontend marks <html> when done). */
export async function hydrated(page: Page): Promise<void> {
  await expect(page.locator('html')).toHaveAttribute('data-hydrated', 'true');
}

export const ADMIN_EMAIL = 'admin@localhost';
/** The password the first test sets when the first-run admin must change theirs. */
export const ADMIN_PASSWORD = 'wukong end-to-end passphrase';

function firstRunPassword(): string {
  const password = process.env.WUKONG_E2E_ADMIN_PASSWORD;
  if (!password) throw new Error('the server wrote no first-run admin password file');
  return password;
}

export { firstRunPassword };

/**
 * Signs the page's browser context in as the admin through the API, doing the forced
 * password change first if no test has done it yet.
 */
export async function signIn(page: Page, baseURL: string): Promise<void> {
  const headers = { Origin: baseURL };
  let response = await page.request.post('/api/auth/login', {
    form: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD },
    headers,
  });
  if (response.status() === 401) {
    const initial = firstRunPassword();
    response = await page.request.post('/api/auth/login', { form: { email: ADMIN_EMAIL, password: initial }, headers });
    expect(response.status()).toBe(200);
    const changed = await page.request.post('/api/auth/password', {
      form: { current_password: initial, new_password: ADMIN_PASSWORD, confirm_password: ADMIN_PASSWORD },
      headers,
    });
    expect(changed.status()).toBe(200);
    return;
  }
  expect(response.status()).toBe(200);
}

/**
 * Plays the authenticator app: the RFC 6238 code (SHA-1, 6 digits, 30 s) for a base32
 * secret, `steps` time steps from now.
 */
export function totp(secretBase32: string, steps = 0): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const char of secretBase32.replace(/=+$/, '')) {
    bits += alphabet.indexOf(char).toString(2).padStart(5, '0');
  }
  const key = Buffer.alloc(Math.floor(bits.length / 8));
  for (let i = 0; i < key.length; i++) key[i] = parseInt(bits.slice(i * 8, i * 8 + 8), 2);
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30) + steps));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return value.toString().padStart(6, '0');
}

/** Signs in through the sign-in form as `email` (a user of ../users.ts). */
export async function passwordStep(page: Page, email: string): Promise<void> {
  await page.goto('/login');
  await hydrated(page);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(USER_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
}
