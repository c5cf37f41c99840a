// Screenshots at 1440×900 and 375×812 of the key table (active, expiring-soon, expired and
// revoked keys), the create form, the reveal page and the audit log, each checked with axe-core.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { expectAccessible } from '../lib/axe.js';
import { DESKTOP, PHONE, launchBrowser, openSession, screenshot } from '../lib/browser.js';
import { cell, createKey, isoDateInDays, keyRow, openRowAction, setupOwner } from '../lib/console.js';
import { expireKey } from '../lib/db.js';
import { startKeyward } from '../lib/server.js';

const SIZES = [
  ['1440', DESKTOP],
  ['375', PHONE],
];

describe('screenshots and accessibility', () => {
  let server;
  let browser;
  let session;
  let page;

  before(async () => {
    server = await startKeyward();
    browser = await launchBrowser();
    session = await openSession(browser, server, { viewport: DESKTOP });
    page = session.page;
  });

  after(async () => {
    await session?.close();
    await browser?.close();
    await server?.dispose();
  });

  it('seeds a workspace with active, expiring-soon, expired and revoked keys', async () => {
    await setupOwner(session);
    const deploy = await createKey(session, { name: 'Deploy bot', permissions: ['records:read', 'records:write'], expiry: '90' });
    await createKey(session, { name: 'Billing sync', permissions: ['records:read'], expiry: '7' });
    const legacy = await createKey(session, { name: 'Legacy importer', permissions: ['files:upload'], expiry: 'custom', date: isoDateInDays(3) });
    await createKey(session, { name: 'Old CI token', permissions: ['files:read', 'files:upload'], expiry: '30' });
    await createKey(session, { name: 'Analytics export', fullAccess: true, expiry: 'never' });
    assert.equal((await server.whoami(deploy.secret)).status, 200);

    await page.goto(session.url('/settings/api-keys'));
    await openRowAction(page, 'Old CI token', 'Revoke');
    const dialog = page.locator('dialog[open]');
    await dialog.waitFor();
    await expectAccessible(page, 'the revoke dialog');
    await Promise.all([page.waitForURL('**/settings/api-keys**'), dialog.getByRole('button', { name: 'Revoke key' }).click()]);

    // Let the verifier flush usage, then move the importer's expiry into the past while the
    // server is stopped, and start it again on the same database.
    await server.stop();
    expireKey(server.dbPath, legacy.id, 2);
    await server.start();

    await page.goto(session.url('/settings/api-keys'));
    const status = async (name) => (await cell(keyRow(page, name), 'Status').innerText()).trim();
    assert.equal(await status('Deploy bot'), 'Active');
    assert.equal(await status('Billing sync'), 'Active');
    assert.equal(await status('Legacy importer'), 'Expired');
    assert.equal(await status('Old CI token'), 'Revoked');
    assert.equal(await status('Analytics export'), 'Active');
    assert.equal(await cell(keyRow(page, 'Deploy bot'), 'Last used').locator('time[datetime]').count(), 1, 'Deploy bot shows its use');
    const expires = async (name) => (await cell(keyRow(page, name), 'Expires').innerText()).replace(/\s+/g, ' ').trim();
    const soon = cell(keyRow(page, 'Billing sync'), 'Expires').locator('.soon');
    assert.equal(await soon.count(), 1, 'a key expiring within 7 days is highlighted');
    assert.match(await soon.innerText(), /⚠\s*in [67] days/);
    assert.equal(await cell(keyRow(page, 'Deploy bot'), 'Expires').locator('.soon').count(), 0, 'a 90-day key is not highlighted');
    assert.match(await expires('Analytics export'), /⚠ Never/, 'a key without expiry says Never with a warning mark');
    await session.expectNoProblems();
  });

  /** The page never scrolls sideways: at 375 px everything reflows (wide tables become cards). */
  async function expectFits(page, what) {
    const { scrollWidth, innerWidth, clipped } = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      innerWidth: window.innerWidth,
      // A table inside a scrolling wrapper would hide its last columns (the row actions).
      clipped: [...document.querySelectorAll('.table-wrap')]
        .filter((w) => w.scrollWidth > w.clientWidth + 1)
        .map((w) => `${w.scrollWidth} px of table in ${w.clientWidth} px`),
    }));
    assert.ok(scrollWidth <= innerWidth, `${what} scrolls sideways: ${scrollWidth} px of content in ${innerWidth} px`);
    assert.deepEqual(clipped, [], `${what}: a table is wider than its frame`);
  }

  for (const [label, viewport] of SIZES) {
    it(`key table, create form and audit log at ${label} px pass axe and are saved`, async () => {
      await page.setViewportSize(viewport);
      await page.goto(session.url('/settings/api-keys'));
      await screenshot(page, `keys-table-${label}`);
      await expectAccessible(page, `the key table at ${label} px`);
      await expectFits(page, `the key table at ${label} px`);

      await page.getByRole('link', { name: 'Create API key' }).first().click();
      await page.waitForURL('**/settings/api-keys/new');
      await screenshot(page, `create-form-${label}`);
      await expectAccessible(page, `the create form at ${label} px`);
      await expectFits(page, `the create form at ${label} px`);

      await page.goto(session.url('/settings/audit-log'));
      await screenshot(page, `audit-log-${label}`);
      await expectAccessible(page, `the audit log at ${label} px`);
      await expectFits(page, `the audit log at ${label} px`);
      await session.expectNoProblems();
    });

    it(`the reveal page at ${label} px (a throwaway key) passes axe and is saved`, async () => {
      await page.setViewportSize(viewport);
      await createKey(session, { name: `Throwaway ${label}`, permissions: ['records:read'], expiry: '7' });
      await screenshot(page, `reveal-${label}`);
      await expectAccessible(page, `the reveal page at ${label} px`);
      await expectFits(page, `the reveal page at ${label} px`);
      // Throw it away: the screenshot shows a key that no longer works.
      await page.goto(session.url('/settings/api-keys'));
      await openRowAction(page, `Throwaway ${label}`, 'Delete');
      const dialog = page.locator('dialog[open]');
      await dialog.waitFor();
      await Promise.all([page.waitForURL('**/settings/api-keys**'), dialog.getByRole('button', { name: 'Delete key' }).click()]);
      await session.expectNoProblems();
    });
  }
});
