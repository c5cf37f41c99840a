// Without JavaScript: everything works through plain pages when JavaScript is off.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { launchBrowser, openSession } from '../lib/browser.js';
import {
  cell,
  chooseExpiry,
  createKey,
  keyRow,
  masked,
  openRowAction,
  openRowMenu,
  setupOwner,
  tickPermission,
  typeIntoLabelled,
} from '../lib/console.js';
import { startKeyward } from '../lib/server.js';

describe('the console without JavaScript', () => {
  let server;
  let browser;
  let session;
  let page;
  const key = { name: 'Nightly export', secret: null, id: null };

  before(async () => {
    server = await startKeyward();
    browser = await launchBrowser();
    session = await openSession(browser, server, { javaScriptEnabled: false });
    page = session.page;
  });

  after(async () => {
    await session?.close();
    await browser?.close();
    await server?.dispose();
  });

  it('7. setup and the create flow work through plain pages', async () => {
    await setupOwner(session);
    assert.equal(await page.evaluate(() => document.documentElement.classList.contains('js')).catch(() => false), false, 'app.js did not run');
    await page.getByRole('link', { name: 'Create API key' }).first().click();
    await page.waitForURL('**/settings/api-keys/new');
    await typeIntoLabelled(page, 'name', key.name);
    await tickPermission(page, 'records:read');
    await tickPermission(page, 'records:write');
    await chooseExpiry(page, '7');
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.waitForURL(/\/settings\/api-keys\/\d+\/reveal$/);
    key.id = Number(new URL(page.url()).pathname.split('/')[3]);
    key.secret = await page.locator('#secret-key').inputValue();
    assert.match(key.secret, /^kw_live_[0-9A-Za-z]{38}$/, 'the key is on the page itself, selectable without JS');
    assert.equal(await page.getByText('This key will not be shown again').count() > 0, true);

    await page.reload();
    assert.equal(await page.getByText('This key can no longer be displayed').count() > 0, true, 'reload: the key is gone');
    assert.equal((await page.content()).includes(key.secret), false);

    await page.goto(session.url('/settings/api-keys'));
    const row = keyRow(page, key.name);
    assert.equal(await row.count(), 1, 'the table lists the key');
    assert.equal((await cell(row, 'Key').innerText()).trim(), masked(key.secret));
    assert.equal((await cell(row, 'Status').innerText()).trim(), 'Active');
    assert.equal((await cell(row, 'Last used').innerText()).trim(), 'Never');
    assert.equal((await server.whoami(key.secret)).status, 200, 'the key read off the page works');
    await session.expectNoProblems();
  });

  it('7a. a test key with an IP allowlist, and the environment filter, through plain pages', async () => {
    await page.goto(session.url('/settings/api-keys/new'));
    await typeIntoLabelled(page, 'name', 'Sandbox sync');
    await page.locator('label[for="environment-test"]').click();
    await tickPermission(page, 'records:read');
    await typeIntoLabelled(page, 'allowed_ips', '127.0.0.1, ::1');
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.waitForURL(/\/settings\/api-keys\/\d+\/reveal$/);
    const secret = await page.locator('#secret-key').inputValue();
    assert.match(secret, /^kw_test_[0-9A-Za-z]{38}$/);
    assert.equal((await server.whoami(secret)).status, 200, 'from 127.0.0.1, on its list');

    await page.goto(session.url('/settings/api-keys'));
    await page.getByRole('link', { name: 'Test keys' }).click();
    await page.waitForURL('**env=test**');
    const rows = page.locator('table.keys-table tr[data-key-id]');
    assert.equal(await rows.count(), 1, 'only the test key');
    const name = await cell(keyRow(page, 'Sandbox sync'), 'Name').innerText();
    assert.ok(name.includes('Test') && name.includes('IP: 2 ranges'), name);
    // Back to the unfiltered table, where the next flows start.
    await page.goto(session.url('/settings/api-keys'));
    await session.expectNoProblems();
  });

  it('7b. a confirm link opens a plain confirm page; Cancel goes back; confirming revokes', async () => {
    assert.ok(key.secret, 'flow 7 must have produced a key');
    // The row's menu is a <details>: it opens without JavaScript.
    await openRowAction(page, key.name, 'Revoke');
    await page.waitForURL(`**/settings/api-keys/${key.id}/revoke`);
    const panel = page.locator('section.panel[data-confirm-panel]');
    assert.equal(await panel.count(), 1, 'the confirm page holds a [data-confirm-panel]');
    assert.ok((await panel.locator('h1').innerText()).trim().length > 0, 'with an <h1>');
    await panel.locator('a[data-cancel]', { hasText: 'Cancel' }).click();
    await page.waitForURL('**/settings/api-keys');
    assert.equal((await cell(keyRow(page, key.name), 'Status').innerText()).trim(), 'Active', 'Cancel changed nothing');

    await openRowAction(page, key.name, 'Revoke');
    await page.waitForURL(`**/settings/api-keys/${key.id}/revoke`);
    await page.getByRole('button', { name: 'Revoke key' }).click();
    await page.waitForURL((u) => u.pathname === '/settings/api-keys');
    assert.equal((await cell(keyRow(page, key.name), 'Status').innerText()).trim(), 'Revoked');
    assert.equal((await server.whoami(key.secret)).status, 401, 'the revoked key is refused');
    await session.expectNoProblems();
  });

  it('7c. regenerate with a grace period, disable, enable, and a bulk disable, all as plain pages', async () => {
    const created = await createKey(session, { name: 'Plain rotation', permissions: ['records:read'] });
    await page.goto(session.url('/settings/api-keys'));
    await openRowAction(page, 'Plain rotation', 'Regenerate');
    await page.waitForURL(`**/settings/api-keys/${created.id}/regenerate`);
    await page.getByRole('radio', { name: /In 1 hour/ }).check();
    await page.getByRole('button', { name: 'Regenerate key' }).click();
    await page.waitForURL(/\/reveal$/);
    const fresh = await page.locator('#secret-key').inputValue();
    assert.equal((await server.whoami(created.secret)).status, 200, 'the old secret works during its grace');
    assert.equal((await server.whoami(fresh)).status, 200);

    await page.goto(session.url('/settings/api-keys'));
    await openRowAction(page, 'Plain rotation', 'Disable');
    await page.waitForURL(`**/settings/api-keys/${created.id}/disable`);
    await page.getByRole('button', { name: 'Disable key' }).click();
    await page.waitForURL((u) => u.pathname === '/settings/api-keys');
    assert.equal((await cell(keyRow(page, 'Plain rotation'), 'Status').innerText()).trim(), 'Disabled');
    for (const s of [created.secret, fresh]) assert.equal((await server.whoami(s)).status, 401, 'disabled: both refused');
    await openRowMenu(keyRow(page, 'Plain rotation'));
    await page.getByRole('button', { name: 'Enable key Plain rotation' }).click();
    await page.waitForURL((u) => u.pathname === '/settings/api-keys');
    assert.equal((await server.whoami(fresh)).status, 200, 'enabled again');

    await page.getByRole('checkbox', { name: 'Select key Plain rotation', exact: true }).check();
    await page.getByRole('button', { name: 'Disable…' }).click();
    await page.waitForURL('**/settings/api-keys/bulk**');
    await page.getByRole('button', { name: 'Disable key' }).click();
    await page.waitForURL((u) => u.pathname === '/settings/api-keys');
    assert.equal((await server.whoami(fresh)).status, 401, 'the bulk disable took');
    await session.expectNoProblems();
  });
});
