// Rotation with a grace period, editing a key, and a bulk revoke, as an owner does them.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { launchBrowser, openSession } from '../lib/browser.js';
import { cell, createKey, keyRow, masked, openRowAction, openRowMenu, setupOwner } from '../lib/console.js';
import { startKeyward } from '../lib/server.js';

async function whoamiFull(server, key) {
  const res = await fetch(`${server.url}/api/v1/whoami`, { headers: { 'X-Api-Key': key } });
  return { status: res.status, deprecated: res.headers.get('x-keyward-key-deprecated'), body: await res.json() };
}

describe('rotating, editing and bulk-revoking keys', () => {
  let server;
  let browser;
  let session;
  let page;

  before(async () => {
    server = await startKeyward();
    browser = await launchBrowser();
    session = await openSession(browser, server, { clipboard: true });
    page = session.page;
    await setupOwner(session);
  });

  after(async () => {
    await session?.close();
    await browser?.close();
    await server?.dispose();
  });

  it('regenerates with a 24-hour grace: both secrets work, the table says when the old one stops', async () => {
    const old = await createKey(session, { name: 'Fleet', permissions: ['records:read'] });
    await page.goto(session.url('/settings/api-keys'));
    await openRowAction(page, 'Fleet', 'Regenerate');
    const dialog = page.locator('dialog[open]');
    await dialog.waitFor();
    const now = dialog.getByRole('radio', { name: /^Now/ });
    assert.equal(await now.isChecked(), true, '"Now" is the default');
    const cancel = dialog.locator('a[data-cancel]');
    assert.equal(await cancel.evaluate((el) => el === document.activeElement), true, 'focus starts on Cancel, as in every destructive dialog');
    await dialog.getByRole('radio', { name: /In 24 hours/ }).check();
    await Promise.all([
      page.waitForURL(/\/settings\/api-keys\/\d+\/reveal$/),
      dialog.getByRole('button', { name: 'Regenerate key' }).click(),
    ]);
    const fresh = await page.locator('#secret-key').inputValue();
    assert.notEqual(fresh, old.secret);
    assert.ok(await page.getByText('The old secret keeps working until').count(), 'the reveal page tells the grace');

    const before = await whoamiFull(server, old.secret);
    assert.equal(before.status, 200, 'the old secret works during the grace');
    assert.ok(before.deprecated, 'with X-Keyward-Key-Deprecated');
    const hours = (Date.parse(before.deprecated) - Date.now()) / 3_600_000;
    assert.ok(hours > 23.9 && hours <= 24, `it stops in 24 hours (${hours})`);
    const current = await whoamiFull(server, fresh);
    assert.equal(current.status, 200);
    assert.equal(current.deprecated, null);

    await page.goto(session.url('/settings/api-keys'));
    const keyCell = cell(keyRow(page, 'Fleet'), 'Key');
    const text = (await keyCell.innerText()).replace(/\s+/g, ' ');
    assert.ok(text.includes(masked(fresh)), text);
    assert.ok(text.includes(`Old secret ${masked(old.secret)} expires in 1 day`), text);
    await session.expectNoProblems();
  });

  it('edits a key: a new name, a description and narrower permissions apply at once', async () => {
    const key = await createKey(session, { name: 'Exporter', permissions: ['records:read', 'records:write'] });
    await page.goto(session.url('/settings/api-keys'));
    await openRowMenu(keyRow(page, 'Exporter'));
    await Promise.all([
      page.waitForURL(`**/settings/api-keys/${key.id}/edit`),
      page.getByRole('link', { name: 'Edit key Exporter', exact: true }).click(),
    ]);
    assert.equal(await page.locator('#name').inputValue(), 'Exporter', 'the form starts from the key');
    await page.locator('#name').fill('Exporter (read only)');
    await page.locator('#description').fill('nightly job on batch-2');
    await page.locator('#perm-records-write').uncheck();
    await session.expectNoProblems();
    await Promise.all([
      page.waitForURL('**/settings/api-keys'),
      page.getByRole('button', { name: 'Save changes' }).click(),
    ]);
    assert.ok(await page.getByText('Saved the changes').count(), 'a flash confirms');
    const row = keyRow(page, 'Exporter (read only)');
    assert.ok((await cell(row, 'Name').innerText()).includes('nightly job on batch-2'));
    const res = await fetch(`${server.url}/api/v1/auth`, {
      headers: { 'X-Api-Key': key.secret, 'X-Keyward-Require': 'records:write' },
    });
    assert.equal(res.status, 403, 'the dropped permission is refused on the next request');
    await session.expectNoProblems();
  });

  it('revokes two keys at once after a confirmation that lists them', async () => {
    const a = await createKey(session, { name: 'Bulk one', permissions: ['records:read'] });
    const b = await createKey(session, { name: 'Bulk two', permissions: ['records:read'] });
    await page.goto(session.url('/settings/api-keys'));
    for (const name of ['Bulk one', 'Bulk two']) {
      await page.getByRole('checkbox', { name: `Select key ${name}`, exact: true }).check();
    }
    await Promise.all([
      page.waitForURL('**/settings/api-keys/bulk**'),
      page.getByRole('button', { name: 'Revoke…' }).click(),
    ]);
    await page.getByRole('heading', { level: 1, name: 'Revoke 2 keys?' }).waitFor();
    const listed = await page.locator('table tr[data-key-id]').allInnerTexts();
    assert.equal(listed.length, 2, listed.join(' | '));
    assert.ok(listed.some((t) => t.includes('Bulk one')) && listed.some((t) => t.includes('Bulk two')));
    await session.expectNoProblems();
    await Promise.all([
      page.waitForURL('**/settings/api-keys'),
      page.getByRole('button', { name: 'Revoke 2 keys' }).click(),
    ]);
    for (const name of ['Bulk one', 'Bulk two']) {
      assert.equal((await cell(keyRow(page, name), 'Status').innerText()).trim(), 'Revoked');
    }
    for (const k of [a, b]) assert.equal((await server.whoami(k.secret)).status, 401);
    assert.equal((await cell(keyRow(page, 'Fleet'), 'Status').innerText()).trim(), 'Active', 'others untouched');
    await session.expectNoProblems();
  });
});
