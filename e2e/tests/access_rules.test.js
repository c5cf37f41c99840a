// Test keys and IP allowlists through the create form, as an owner makes them.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { expectAccessible } from '../lib/axe.js';
import { launchBrowser, openSession } from '../lib/browser.js';
import { cell, keyRow, setupOwner, tickPermission, typeIntoLabelled } from '../lib/console.js';
import { startKeyward } from '../lib/server.js';

describe('test keys and IP allowlists', () => {
  let server;
  let browser;
  let session;
  let page;

  before(async () => {
    server = await startKeyward();
    browser = await launchBrowser();
    session = await openSession(browser, server);
    page = session.page;
    await setupOwner(session);
  });

  after(async () => {
    await session?.close();
    await browser?.close();
    await server?.dispose();
  });

  it('creates a test key limited to two ranges: kw_test_, a Test badge, the ranges in the table', async () => {
    await page.goto(session.url('/settings/api-keys/new'));
    await expectAccessible(page, 'the create form');
    const live = page.getByRole('radio', { name: /^Live/ });
    assert.equal(await live.isChecked(), true, 'Live is the default');
    await typeIntoLabelled(page, 'name', 'Sandbox importer');
    await page.locator('label[for="environment-test"]').click();
    assert.equal(await page.locator('#environment-test').isChecked(), true, 'clicking the label of Test chooses it');
    await tickPermission(page, 'records:read');
    await typeIntoLabelled(page, 'allowed_ips', '10.0.0.0/8');
    await page.keyboard.press('Enter');
    await page.keyboard.type('127.0.0.1');
    assert.ok(
      (await page.locator('#allowed_ips-hint').innerText()).includes('Leave empty to allow any address'),
      'the hint says what empty means',
    );
    await Promise.all([
      page.waitForURL(/\/settings\/api-keys\/\d+\/reveal$/),
      page.getByRole('button', { name: 'Create key' }).click(),
    ]);
    const secret = await page.locator('#secret-key').inputValue();
    assert.match(secret, /^kw_test_[0-9A-Za-z]{38}$/);

    const res = await fetch(`${server.url}/api/v1/whoami`, { headers: { 'X-Api-Key': secret } });
    assert.equal(res.status, 200, 'the client (127.0.0.1) is on the list');
    assert.equal(res.headers.get('x-keyward-environment'), 'test');
    assert.equal((await res.json()).environment, 'test');

    await page.goto(session.url('/settings/api-keys'));
    const name = cell(keyRow(page, 'Sandbox importer'), 'Name');
    const badge = name.locator('.badge-test');
    assert.equal(await badge.innerText(), 'Test');
    assert.ok(await badge.isVisible());
    assert.ok((await name.innerText()).includes('IP: 2 ranges'), await name.innerText());
    assert.equal(await name.locator('[title="Only from 10.0.0.0/8, 127.0.0.1/32"]').count(), 1);
    await expectAccessible(page, 'the key table with a test key');

    // The environment links filter the table without JavaScript's help (plain links).
    await Promise.all([page.waitForURL('**env=live**'), page.getByRole('link', { name: 'Live keys' }).click()]);
    assert.equal(await keyRow(page, 'Sandbox importer').count(), 0, 'a test key is not a live key');
    await Promise.all([page.waitForURL('**env=test**'), page.getByRole('link', { name: 'Test keys' }).click()]);
    assert.equal(await keyRow(page, 'Sandbox importer').count(), 1);
    await session.expectNoProblems();
  });

  it('shows a malformed range beside the field, keeps what was typed, and creates nothing', async () => {
    session.allowStatus(422, '/settings/api-keys');
    await page.goto(session.url('/settings/api-keys/new'));
    await typeIntoLabelled(page, 'name', 'Typo');
    await tickPermission(page, 'records:read');
    await typeIntoLabelled(page, 'allowed_ips', '10.0.0.0/33');
    await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Create key' }).click()]);
    assert.equal(new URL(page.url()).pathname, '/settings/api-keys');
    const error = page.locator('#allowed_ips-error');
    assert.equal(await error.innerText(), '\u201c10.0.0.0/33\u201d is not an IP address or CIDR range. Write one like 203.0.113.7, 10.0.0.0/8 or 2001:db8::/32.');
    const field = page.getByLabel('Allowed IP addresses (optional)');
    assert.equal(await field.inputValue(), '10.0.0.0/33', 'the input is kept');
    assert.equal(await field.getAttribute('aria-invalid'), 'true');
    const summary = page.locator('.error-summary');
    assert.ok((await summary.innerText()).includes('Allowed IP addresses'));
    // The summary's link leads to the field.
    await summary.getByRole('link', { name: 'Allowed IP addresses' }).click();
    assert.equal(await field.evaluate((el) => el === document.activeElement), true, 'the summary link focuses the field');
    await expectAccessible(page, 'the create form with an allowlist error');
    await page.goto(session.url('/settings/api-keys?q=Typo'));
    assert.equal(await keyRow(page, 'Typo').count(), 0, 'nothing was created');
    await session.expectNoProblems();
  });
});
