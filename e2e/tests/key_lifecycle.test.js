// Flows 1–6 of a key's life: one owner, one browser, one server, in the order a person would go.
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
  pollTable,
  setupOwner,
  tickPermission,
  typeIntoLabelled,
} from '../lib/console.js';
import { startKeyward } from '../lib/server.js';

describe('the key lifecycle in the console', () => {
  let server;
  let browser;
  let session;
  let page;
  // Carried from flow to flow, as a person would carry them.
  const deployBot = { name: 'Deploy bot', secret: null, id: null };

  before(async () => {
    server = await startKeyward();
    browser = await launchBrowser();
    session = await openSession(browser, server, { clipboard: true });
    page = session.page;
  });

  after(async () => {
    await session?.close();
    await browser?.close();
    await server?.dispose();
  });

  it('1. first-run setup lands on an empty API Keys page with its empty state', async () => {
    await setupOwner(session);
    assert.equal(new URL(page.url()).pathname, '/settings/api-keys');
    await assert.doesNotReject(page.getByRole('heading', { level: 1, name: 'API Keys' }).waitFor(), 'h1 "API Keys"');
    assert.equal(await page.getByText('No API keys yet').count() > 0, true, 'empty state text "No API keys yet"');
    const create = page.locator('a.btn', { hasText: 'Create API key' });
    assert.equal(await create.count() > 0, true, 'a.btn "Create API key" in the empty state');
    assert.equal(await create.first().getAttribute('href'), '/settings/api-keys/new');
    assert.equal(await page.locator('table.keys-table tr[data-key-id]').count(), 0, 'no key rows yet');
    await session.expectNoProblems();
  });

  it('2. create a key with two permissions and a 7-day expiry, copy it once, then it is gone', async () => {
    await page.getByRole('link', { name: 'Create API key' }).first().click();
    await page.waitForURL('**/settings/api-keys/new');
    await typeIntoLabelled(page, 'name', deployBot.name);
    await tickPermission(page, 'records:read');
    await tickPermission(page, 'files:upload');
    assert.equal(await page.locator('select#expiry').inputValue(), '30', '30 days is the default expiry');
    await chooseExpiry(page, '7');
    await Promise.all([
      page.waitForURL(/\/settings\/api-keys\/\d+\/reveal$/),
      page.getByRole('button', { name: 'Create key' }).click(),
    ]);
    deployBot.id = Number(new URL(page.url()).pathname.split('/')[3]);

    const shown = await page.locator('#secret-key').inputValue();
    assert.match(shown, /^kw_live_[0-9A-Za-z]{38}$/);
    assert.equal(await page.locator('#secret-key').getAttribute('readonly'), '', '#secret-key is readonly');
    assert.equal(await page.getByText('This key will not be shown again').count() > 0, true, 'the one-time warning');
    const curl = await page.locator('pre').allTextContents();
    assert.ok(curl.some((t) => t.includes('X-Api-Key')), 'a curl example with X-Api-Key');

    const copy = page.locator('button[data-copy-target="secret-key"]');
    assert.equal((await copy.locator('.label').innerText()).trim(), 'Copy', 'the button shows Copy');
    await copy.getByText('the API key to the clipboard').waitFor({ state: 'attached' });
    await copy.click();
    await assert.doesNotReject(
      page.locator('.copy-status[role="status"]').filter({ hasText: /\S/ }).first().waitFor(),
      'the .copy-status element announces the copy',
    );
    const clipboard = await page.evaluate(() => navigator.clipboard.readText());
    assert.equal(clipboard, shown, 'Copy puts the exact key on the clipboard');
    deployBot.secret = clipboard;

    await page.reload();
    assert.equal(await page.getByText('This key can no longer be displayed').count() > 0, true, 'reload: the key is gone');
    const html = await page.content();
    assert.equal(html.includes(deployBot.secret), false, 'the reloaded page does not contain the key');
    assert.ok(html.includes(masked(deployBot.secret)), 'the reloaded page shows the masked key');

    await page.goto(session.url('/settings/api-keys'));
    const row = keyRow(page, deployBot.name);
    assert.equal(await row.count(), 1, 'the table lists the new key');
    assert.equal(await row.getAttribute('data-key-id'), String(deployBot.id));
    assert.equal((await cell(row, 'Key').innerText()).trim(), masked(deployBot.secret), 'masked key in the Key cell');
    assert.equal((await cell(row, 'Last used').innerText()).trim(), 'Never');
    assert.equal((await cell(row, 'Status').innerText()).trim(), 'Active');
    assert.match(await cell(row, 'Expires').locator('.soon').innerText(), /in [67] days/, 'the 7-day expiry is shown and highlighted');
    const perms = await cell(row, 'Permissions').innerText();
    assert.match(perms, /records:read|Read records/);
    assert.match(perms, /files:upload|Upload files/);
    for (const label of ['Name', 'Key', 'Permissions', 'Created', 'Last used', 'Expires', 'Status', 'Actions']) {
      assert.equal(await cell(row, label).count(), 1, `the row has a cell with data-label="${label}"`);
    }
    assert.equal((await page.content()).includes(deployBot.secret), false, 'the table never contains a full key');
    await session.expectNoProblems();
  });

  it('3. using the copied key against /api/v1/whoami shows a last-used time in the table', async () => {
    assert.ok(deployBot.secret, 'flow 2 must have produced a key');
    const res = await server.whoami(deployBot.secret);
    assert.equal(res.status, 200, `whoami with the copied key: ${JSON.stringify(res.body)}`);
    const row = keyRow(page, deployBot.name);
    const time = cell(row, 'Last used').locator('time[datetime]');
    const seen = await pollTable(page, async () => (await time.count()) === 1, 6_000);
    assert.ok(seen, `within 6 s the Last used cell should hold a <time datetime>; it says "${(await cell(row, 'Last used').innerText()).trim()}"`);
    const iso = await time.getAttribute('datetime');
    const when = Date.parse(iso);
    assert.ok(Number.isFinite(when), `datetime="${iso}" should be an ISO time`);
    assert.ok(Math.abs(Date.now() - when) < 120_000, `last used ${iso} should be about now`);
    assert.ok((await time.getAttribute('title'))?.length, 'the <time> has a title with the exact UTC time');
    await session.expectNoProblems();
  });

  it('4. regenerate through the dialog: the old key gets 401, the new one 200', async () => {
    const old = deployBot.secret;
    assert.ok(old, 'flow 2 must have produced a key');
    await openRowAction(page, deployBot.name, 'Regenerate');
    const dialog = page.locator('dialog[open]');
    await dialog.waitFor();
    assert.equal(new URL(page.url()).pathname, '/settings/api-keys', 'with JS the confirm page opens over the table');
    assert.ok((await dialog.locator('h1').innerText()).trim().length > 0, 'the dialog has a heading');
    await Promise.all([
      page.waitForURL(/\/settings\/api-keys\/\d+\/reveal$/),
      dialog.getByRole('button', { name: 'Regenerate key' }).click(),
    ]);
    const fresh = await page.locator('#secret-key').inputValue();
    assert.match(fresh, /^kw_live_[0-9A-Za-z]{38}$/);
    assert.notEqual(fresh, old, 'regenerating issues a different key');
    assert.equal((await server.whoami(old)).status, 401, 'the old key is refused');
    const now = await server.whoami(fresh);
    assert.equal(now.status, 200, `the new key is accepted: ${JSON.stringify(now.body)}`);
    deployBot.secret = fresh;
    await page.goto(session.url('/settings/api-keys'));
    assert.equal((await cell(keyRow(page, deployBot.name), 'Key').innerText()).trim(), masked(fresh));
    await session.expectNoProblems();
  });

  it('5. revoke through the dialog: Escape cancels, then confirming marks it Revoked', async () => {
    const row = keyRow(page, deployBot.name);
    await openRowAction(page, deployBot.name, 'Revoke');
    const dialog = page.locator('dialog[open]');
    await dialog.waitFor();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    assert.equal((await cell(row, 'Status').innerText()).trim(), 'Active', 'Escape changed nothing');
    await page.reload();
    assert.equal((await cell(row, 'Status').innerText()).trim(), 'Active', 'still active after a reload');
    assert.equal((await server.whoami(deployBot.secret)).status, 200, 'the key still works after Escape');

    await openRowAction(page, deployBot.name, 'Revoke');
    await dialog.waitFor();
    await Promise.all([
      page.waitForURL('**/settings/api-keys**'),
      dialog.getByRole('button', { name: 'Revoke key' }).click(),
    ]);
    await page.waitForLoadState();
    assert.equal((await cell(row, 'Status').innerText()).trim(), 'Revoked');
    assert.equal((await server.whoami(deployBot.secret)).status, 401, 'a revoked key is refused');
    await session.expectNoProblems();
  });

  it('6. delete: gone from the table, present in the audit log', async () => {
    await openRowAction(page, deployBot.name, 'Delete');
    const dialog = page.locator('dialog[open]');
    await dialog.waitFor();
    await Promise.all([
      page.waitForURL('**/settings/api-keys**'),
      dialog.getByRole('button', { name: 'Delete key' }).click(),
    ]);
    await page.waitForLoadState();
    assert.equal(await keyRow(page, deployBot.name).count(), 0, 'the deleted key is gone from the table');
    assert.equal(await page.locator(`tr[data-key-id="${deployBot.id}"]`).count(), 0);

    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.waitForURL('**/settings/audit-log**');
    const rows = page.locator('table tr').filter({ has: page.locator('td[data-action="key.deleted"]') });
    assert.ok((await rows.count()) >= 1, 'the audit log has a key.deleted event');
    assert.match(await rows.first().locator('td[data-label="Action"]').innerText(), /^Key deleted$/, 'in words');
    const text = await rows.first().innerText();
    assert.ok(text.includes(deployBot.name), `the key.deleted event names the key: ${text}`);
    assert.ok(text.includes(masked(deployBot.secret)), `the key.deleted event shows the masked key: ${text}`);
    for (const action of ['key.created', 'key.regenerated', 'key.revoked', 'workspace.created']) {
      assert.ok((await page.locator(`td[data-action="${action}"]`).count()) >= 1, `the audit log lists ${action}`);
    }
    assert.equal((await page.content()).includes(deployBot.secret), false, 'the audit log never holds a key');
    await session.expectNoProblems();
  });
});
