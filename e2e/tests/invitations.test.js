// An invitation as people use it: the owner invites, copies the link the page shows once, and
// the invitee opens it in a browser of their own, chooses a password and lands in the workspace.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { expectAccessible } from '../lib/axe.js';
import { launchBrowser, openSession } from '../lib/browser.js';
import { memberRow, setupOwner, signIn, typeInto, typeIntoLabelled } from '../lib/console.js';
import { startKeyward } from '../lib/server.js';

const INVITEE = { email: 'ada@example.com', password: 'ada chooses her own 2026' };

describe('invitations', () => {
  let server;
  let browser;
  let owner;

  before(async () => {
    server = await startKeyward();
    browser = await launchBrowser();
    owner = await openSession(browser, server, { clipboard: true });
    await setupOwner(owner);
  });

  after(async () => {
    await owner?.close();
    await browser?.close();
    await server?.dispose();
  });

  it('the owner invites, copies the link, and the invitee joins with a password of their own', async () => {
    const { page } = owner;
    await page.goto(owner.url('/settings/members'));
    assert.equal(await page.getByLabel('Password').count(), 0, 'the form asks for no password');
    await typeIntoLabelled(page, 'email', INVITEE.email);
    await page.locator('label[for="role-admin"]').click();
    await Promise.all([
      page.waitForURL(/\/settings\/invitations\/\d+\/link$/),
      page.getByRole('button', { name: 'Send invitation' }).click(),
    ]);
    assert.ok(await page.getByText('This link is shown only once').count() > 0, 'the one-time warning');
    assert.ok(await page.getByText('no SMTP server is configured').count() > 0, 'says no email was sent');
    await expectAccessible(page, 'the invitation link page');
    const shown = await page.locator('#invitation-link').inputValue();
    const copy = page.locator('button[data-copy-target="invitation-link"]');
    assert.equal((await copy.locator('.label').innerText()).trim(), 'Copy', 'the button shows Copy');
    await copy.getByText('the invitation link to the clipboard').waitFor({ state: 'attached' });
    await copy.click();
    await page.locator('.copy-status[role="status"]').filter({ hasText: /\S/ }).first().waitFor();
    const link = await page.evaluate(() => navigator.clipboard.readText());
    assert.equal(link, shown, 'Copy puts the exact link on the clipboard');
    await page.reload();
    assert.ok(await page.getByText('This link can no longer be displayed').count() > 0, 'reload: the link is gone');
    assert.equal((await page.content()).includes(link), false, 'the reloaded page does not contain the link');

    await page.goto(owner.url('/settings/members'));
    const pending = page.locator('table.invitations-table tr', { hasText: INVITEE.email });
    assert.equal(await pending.count(), 1, 'listed as a pending invitation');
    assert.match(await pending.innerText(), /Admin/);
    await expectAccessible(page, 'the members page with a pending invitation');
    await owner.expectNoProblems();

    // The invitee: a browser of their own, never signed in here.
    const invitee = await openSession(browser, server);
    try {
      const p = invitee.page;
      await p.goto(link);
      await p.getByRole('heading', { level: 1, name: 'Join Acme' }).waitFor();
      assert.ok((await p.locator('main').innerText()).includes('owner@example.com'), 'says who invited');
      await expectAccessible(p, 'the invitation page');
      await typeInto(p, 'Password', INVITEE.password);
      await typeInto(p, 'Password again', INVITEE.password);
      await Promise.all([
        p.waitForURL('**/settings/api-keys'),
        p.getByRole('button', { name: 'Create account and join Acme' }).click(),
      ]);
      assert.ok(await p.getByText('Welcome to keyward').count() > 0, 'a welcome message');
      const workspace = (await p.locator('details.workspace-menu summary .workspace-name').innerText()).trim();
      assert.equal(workspace, 'Acme', 'in the workspace they were invited to');
      await invitee.expectNoProblems();

      // The link worked once.
      invitee.allowStatus(410, new URL(link).pathname);
      await p.goto(link);
      await p.getByRole('heading', { level: 1, name: 'This invitation has already been used' }).waitFor();
      await invitee.expectNoProblems();
    } finally {
      await invitee.close();
    }

    // They sign in with the password they chose, and the owner sees them as an admin.
    const again = await openSession(browser, server);
    try {
      await signIn(again, INVITEE.email, INVITEE.password);
      assert.equal(new URL(again.page.url()).pathname, '/settings/api-keys');
    } finally {
      await again.close();
    }
    await page.goto(owner.url('/settings/members'));
    assert.match(await memberRow(page, INVITEE.email).innerText(), /Admin/);
    await owner.expectNoProblems();
  });
});
