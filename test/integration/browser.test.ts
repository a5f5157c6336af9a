/**
 * End to end in a real browser: headless Chromium (Debian's /usr/bin/chromium,
 * driven by playwright-core) fills in and submits the form of
 * examples/base64 served by a real gwserver process, then reads the result
 * from the page it navigated to.
 *
 * Without /usr/bin/chromium the test is skipped, except on CI
 * (CI=true), where a missing browser is a failure.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { startGwserver } from '../helpers/gwserver.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run',
  '--disable-component-update', '--disable-sync', '--disable-quic',
];

describe('examples/base64 in headless Chromium', function () {
  this.timeout(60_000);
  let userDataDir: string | undefined;
  let context: BrowserContext | undefined;

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      const msg = `${CHROMIUM} not found (install Debian's chromium package)`;
      if (process.env.CI === 'true') throw new Error(`${msg}; the browser test cannot be skipped on CI`);
      console.log(`    skipping the browser test: ${msg}`);
      this.skip();
    }
    // A fresh profile for each run, so no state leaks in from an earlier one.
    userDataDir = await mkdtemp(path.join(tmpdir(), 'gwserver-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
      timeout: 30_000,
    });
  });

  after(async function () {
    // Runs even when before() or the test failed: close the browser (which
    // ends its processes), then remove the profile directory.
    try {
      await context?.close();
    } finally {
      if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
    }
  });

  it('types a string, submits the form and shows its base64 on /encode', async function () {
    const server = await startGwserver(['examples/base64:application']);
    const page = await context!.newPage();
    const s = 'héllo wörld ✓ & <b>';

    const front = await page.goto(`${server.url}/`);
    assert.equal(front?.status(), 200);
    await page.locator('input[name="mystring"]').fill(s);
    await Promise.all([
      page.waitForURL((url) => url.pathname === '/encode', { timeout: 15_000 }),
      page.locator('button[type="submit"]').click(),
    ]);
    await page.waitForLoadState('load');

    const url = new URL(page.url());
    assert.equal(url.pathname, '/encode');
    assert.equal(url.searchParams.get('mystring'), s);
    assert.equal((await page.locator('#result').textContent())?.trim(), Buffer.from(s, 'utf8').toString('base64'));
    assert.equal(await page.locator('#input').textContent(), s);

    // The link goes back to the form.
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/' && u.search === '', { timeout: 15_000 }),
      page.getByRole('link', { name: 'Encode another string' }).click(),
    ]);
    assert.equal(await page.locator('input[name="mystring"]').count(), 1);
    await page.close();
  });
});
