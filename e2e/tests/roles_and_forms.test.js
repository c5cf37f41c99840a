// Roles and forms: a viewer sees no action buttons; a form with errors keeps what was typed.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { launchBrowser, openSession } from '../lib/browser.js';
import { addViewer } from '../lib/members.js';
import {
  OWNER,
  cell,
  chooseExpiry,
  createKey,
  isoDateInDays,
  keyRow,
  openRowMenu,
  setupOwner,
  signIn,
  tickPermission,
  typeInto,
  typeIntoLabelled,
} from '../lib/console.js';
import { startKeyward } from '../lib/server.js';

const VIEWER = { email: 'viewer@example.com', password: 'viewer password 2026' };

describe('roles and form errors', () => {
  let server;
  let browser;
  let owner;

  before(async () => {
    server = await startKeyward();
    browser = await launchBrowser();
    owner = await openSession(browser, server);
  });

  after(async () => {
    await owner?.close();
    await browser?.close();
    await server?.dispose();
  });

  it('8a. the setup form keeps what was typed when it has errors', async () => {
    const { page } = owner;
    owner.allowStatus(422, '/setup');
    await page.goto(owner.url('/setup'));
    await typeInto(page, 'Setup code', server.setupCode);
    await typeInto(page, 'Email', OWNER.email);
    await typeInto(page, 'Password', OWNER.password);
    await typeInto(page, 'Password again', 'not the same password');
    await typeInto(page, 'Workspace name', OWNER.workspace);
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/setup') && r.request().method() === 'POST'),
      page.getByRole('button', { name: 'Create workspace and sign in' }).click(),
    ]);
    assert.equal(response.status(), 422);
    await page.waitForLoadState();
    assert.equal(await page.getByLabel('Email', { exact: true }).inputValue(), OWNER.email, 'email kept');
    assert.equal(await page.getByLabel('Workspace name').inputValue(), OWNER.workspace, 'workspace name kept');
    assert.equal(await page.getByLabel('Setup code').inputValue(), server.setupCode, 'setup code kept');
    const confirm = page.locator('#password_confirm');
    assert.equal(await confirm.getAttribute('aria-invalid'), 'true');
    assert.match(await confirm.getAttribute('aria-describedby'), /password_confirm-error/);
    assert.ok((await page.locator('p.field-error#password_confirm-error').innerText()).trim().length > 0);
    await owner.expectNoProblems();

    // Fix it and carry on: the owner exists for the rest of this file.
    await typeInto(page, 'Password', OWNER.password);
    await typeInto(page, 'Password again', OWNER.password);
    await Promise.all([page.waitForURL('**/settings/api-keys'), page.getByRole('button', { name: 'Create workspace and sign in' }).click()]);
    await owner.expectNoProblems();
  });

  it('8b. the create-key form keeps what was typed when it has errors', async () => {
    const { page } = owner;
    owner.allowStatus(422, '/settings/api-keys');
    await page.goto(owner.url('/settings/api-keys'));
    await page.getByRole('link', { name: 'Create API key' }).first().click();
    await page.waitForURL('**/settings/api-keys/new');
    await typeIntoLabelled(page, 'name', 'Billing sync');
    await tickPermission(page, 'records:write');
    await tickPermission(page, 'files:read');
    await chooseExpiry(page, 'custom');
    await page.locator('#expiry_date').fill('2020-01-01');
    await page.locator('#rate_limit_per_minute').fill('42');
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/settings/api-keys') && r.request().method() === 'POST'),
      page.getByRole('button', { name: 'Create key' }).click(),
    ]);
    assert.equal(response.status(), 422, 'a date in the past is refused with 422');
    await page.waitForLoadState();
    assert.equal(await page.locator('#name').inputValue(), 'Billing sync', 'the name is kept');
    assert.equal(await page.locator('#perm-records-write').isChecked(), true, 'records:write stays ticked');
    assert.equal(await page.locator('#perm-files-read').isChecked(), true, 'files:read stays ticked');
    assert.equal(await page.locator('#perm-records-read').isChecked(), false, 'records:read stays unticked');
    assert.equal(await page.locator('select#expiry').inputValue(), 'custom', 'the custom expiry stays chosen');
    assert.equal(await page.locator('#expiry_date').inputValue(), '2020-01-01', 'the typed date is kept');
    assert.equal(await page.locator('#rate_limit_per_minute').inputValue(), '42', 'the rate limit is kept');
    const date = page.locator('#expiry_date');
    assert.equal(await date.getAttribute('aria-invalid'), 'true', 'the date field is marked invalid');
    // The message is a p.field-error that the date field names in aria-describedby.
    const described = ((await date.getAttribute('aria-describedby')) || '').split(/\s+/).filter(Boolean);
    const errorIds = [];
    for (const id of described) {
      if ((await page.locator(`p.field-error[id="${id}"]`).count()) === 1) errorIds.push(id);
    }
    assert.equal(errorIds.length, 1, `the date field's aria-describedby (${described.join(' ')}) names one p.field-error`);
    const message = (await page.locator(`p.field-error[id="${errorIds[0]}"]`).innerText()).trim();
    assert.match(message, /date/i, `the message speaks of the date: ${message}`);

    // Correct the date and submit: the key is created with what was kept.
    await page.locator('#expiry_date').fill(isoDateInDays(10));
    await Promise.all([
      page.waitForURL(/\/settings\/api-keys\/\d+\/reveal$/),
      page.getByRole('button', { name: 'Create key' }).click(),
    ]);
    await page.goto(owner.url('/settings/api-keys'));
    assert.equal(await keyRow(page, 'Billing sync').count(), 1);
    await owner.expectNoProblems();
  });

  it('8c. a viewer sees the keys but no action buttons', async () => {
    const { page } = owner;
    await page.goto(owner.url('/settings/api-keys'));
    if ((await keyRow(page, 'Deploy bot').count()) === 0) {
      await createKey(owner, { name: 'Deploy bot', permissions: ['records:read'], expiry: '30' });
      await page.goto(owner.url('/settings/api-keys'));
    }
    await openRowMenu(keyRow(page, 'Deploy bot'));
    assert.equal(await page.getByRole('link', { name: 'Revoke key Deploy bot', exact: true }).count(), 1, 'the owner sees Revoke');

    await addViewer(owner, VIEWER.email, VIEWER.password);
    const viewer = await openSession(browser, server);
    try {
      await signIn(viewer, VIEWER.email, VIEWER.password);
      await viewer.page.goto(viewer.url('/settings/api-keys'));
      const vpage = viewer.page;
      assert.equal(await keyRow(vpage, 'Deploy bot').count(), 1, 'a viewer sees the keys');
      assert.equal(await keyRow(vpage, 'Billing sync').count(), 1);
      for (const action of ['Regenerate', 'Revoke', 'Delete']) {
        // includeHidden: the row menus are closed, and a link in them must not exist at all.
        const hidden = { includeHidden: true };
        assert.equal(await vpage.getByRole('link', { name: new RegExp(`^${action}\\b`), ...hidden }).count(), 0, `no ${action} links for a viewer`);
        assert.equal(await vpage.getByRole('button', { name: new RegExp(`^${action}\\b`), ...hidden }).count(), 0, `no ${action} buttons for a viewer`);
      }
      assert.equal(await vpage.locator('a[data-dialog]').count(), 0, 'no confirm links at all');
      assert.equal(await vpage.getByRole('link', { name: 'Create API key' }).count(), 0, 'no Create API key button for a viewer');
      // And the pages behind the buttons refuse a viewer.
      const id = await keyRow(vpage, 'Deploy bot').getAttribute('data-key-id');
      for (const path of ['/settings/api-keys/new', `/settings/api-keys/${id}/revoke`]) {
        viewer.allowStatus(403, path);
        const res = await vpage.goto(viewer.url(path));
        assert.equal(res.status(), 403, `a viewer gets 403 at ${path}`);
      }
      await viewer.expectNoProblems();
    } finally {
      await viewer.close();
    }
    await owner.expectNoProblems();
  });
});
