import { test as base, expect, type Page } from '@playwright/test';

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
