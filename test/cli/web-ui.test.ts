// The Temporal Web UI shows a migration waiting for approval: the summary and details `start` sets,
// the workflow's current details and its running state. Headless Chromium, loopback only.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { after, before, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { workflowIdFor } from '../../src/shared.js';
import { demoNode, startHarness, waitForPhase, withWorker, type Harness } from '../support/harness.js';
import { cli } from './run.js';

const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url);
const SCREENSHOT = new URL('web-ui-awaiting-approval.png', ARTIFACTS);

let h: Harness;
let browser: Browser | undefined;
const dirs: string[] = [];
before(async () => {
  h = await startHarness({ uiPort: 0 });
});
after(async () => {
  await browser?.close();
  await h?.close();
  await Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true })));
});

test('the Web UI shows summary, details, current details and the pending approval', async () => {
  const node = await demoNode('web-ui');
  dirs.push(node.dir);
  const handle = h.client.workflow.getHandle(workflowIdFor('web-ui'));

  await withWorker(h, 'web-ui', async () => {
    const started = await cli(['start', '--config', node.configFile, '--yes', '--address', h.server.address]);
    assert.equal(started.code, 0, started.stderr);
    await waitForPhase(handle, 'awaiting-approval');
    const { runId } = await handle.describe();

    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      timeout: 30_000,
    });
    const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
    page.setDefaultTimeout(30_000);
    // Nothing leaves the machine: any request that is not to the dev server fails.
    await page.route('**/*', (route) => (new URL(route.request().url()).hostname === '127.0.0.1' ? route.continue() : route.abort()));
    // Find it as an operator would: the workflow list filtered on the phase search attribute.
    const query = encodeURIComponent(`MigrationPhase = "awaiting-approval"`);
    await page.goto(`http://127.0.0.1:${h.server.uiPort}/namespaces/default/workflows?query=${query}`);
    await page.getByRole('link', { name: handle.workflowId }).first().click();
    await page.waitForURL(`**/workflows/${handle.workflowId}/${runId}/**`);
    await page.getByRole('tab', { name: 'User Metadata' }).or(page.getByRole('link', { name: 'User Metadata' })).first().click();

    // The UI renders summary and details as Markdown in iframes (one per field).
    const visible = async (text: string | RegExp) => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const shown = await Promise.all(page.frames().map((f) => f.locator('body').innerText().catch(() => '')));
        if (shown.some((t) => (typeof text === 'string' ? t.includes(text) : text.test(t)))) return;
        assert.ok(Date.now() < deadline, `the Web UI shows ${text}`);
        await page.waitForTimeout(250);
      }
    };
    await visible('web-ui: dcm4chee database, archive 5.27 … 5.32, PostgreSQL 9.6 → 15'); // staticSummary
    await visible(/started by \S+@\S+/); // staticDetails
    await visible('kaapana-migrate abort --node web-ui');
    await visible('Current Details');
    await visible(/web-ui\s*: awaiting-approval/); // setCurrentDetails
    await visible('Waiting for approval of the directory swap.');
    await visible(/awaitApproval\s*: waiting for approveSwap/);
    await visible('RUNNING');
    await fs.mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: SCREENSHOT.pathname, fullPage: true });

    // Leave nothing behind: the abort rolls the run back while the worker still polls.
    const aborted = await cli(['abort', '--node', 'web-ui', '--address', h.server.address]);
    assert.equal(aborted.code, 0, aborted.stderr);
    await handle.result().catch(() => undefined);
  });
});
