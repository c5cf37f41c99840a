// Every console page at 1440 and 375 px: a screenshot each, axe-core clean, nothing scrolling
// sideways. All with JavaScript: axe runs as a script in the page. The screenshots land in e2e/artifacts/ (page-*.png); with KEYWARD_SCREENSHOTS_DIR set
// (scripts/screenshots sets docs/screenshots) they are copied there too, for the README.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { expectAccessible } from '../lib/axe.js';
import { DESKTOP, PHONE, launchBrowser, openSession, screenshot } from '../lib/browser.js';
import {
  OWNER,
  cell,
  createKey,
  isoDateInDays,
  keyRow,
  memberRow,
  openRowAction,
  openRowMenu,
  setupOwner,
  signIn,
  typeInto,
} from '../lib/console.js';
import { expireKey } from '../lib/db.js';
import { addViewer, invite } from '../lib/members.js';
import { startKeyward } from '../lib/server.js';
import { freshStep, totp } from '../lib/totp.js';

const SIZES = [
  ['1440', DESKTOP],
  ['375', PHONE],
];

/** The page never scrolls sideways, and no table hides columns in a scrolling frame. */
async function expectFits(page, what) {
  const { scrollWidth, innerWidth, clipped } = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    clipped: [...document.querySelectorAll('.table-wrap')]
      .filter((w) => w.scrollWidth > w.clientWidth + 1)
      .map((w) => `${w.scrollWidth} px of table in ${w.clientWidth} px`),
  }));
  assert.ok(scrollWidth <= innerWidth, `${what} scrolls sideways: ${scrollWidth} px of content in ${innerWidth} px`);
  assert.deepEqual(clipped, [], `${what}: a table is wider than its frame`);
}

/** Screenshot, axe and width check of the page as it stands, at one size. */
async function capture(page, name, label) {
  const file = await screenshot(page, `page-${name}-${label}`);
  const dest = process.env.KEYWARD_SCREENSHOTS_DIR;
  if (dest) {
    fs.mkdirSync(dest, { recursive: true });
    fs.copyFileSync(file, path.join(dest, `${name}-${label}.png`));
  }
  await expectAccessible(page, `${name} at ${label} px`);
  await expectFits(page, `${name} at ${label} px`);
}

describe('every console page at 1440 and 375 px', () => {
  let server;
  let browser;
  let anon;
  let owner;

  before(async () => {
    server = await startKeyward();
    browser = await launchBrowser();
    anon = await openSession(browser, server);
    owner = await openSession(browser, server);
  });

  after(async () => {
    for (const s of [anon, owner]) await s?.close();
    await browser?.close();
    await server?.dispose();
  });

  /** Visits `go()` then captures at both sizes, reloading between them. */
  async function both(session, name, go) {
    for (const [label, viewport] of SIZES) {
      await session.page.setViewportSize(viewport);
      await go(session.page, label);
      await capture(session.page, name, label);
    }
    await session.expectNoProblems();
  }

  it('first-run setup and the empty key table', async () => {
    await both(anon, 'setup', (page) => page.goto(anon.url('/setup')));
    await setupOwner(owner);
    await both(owner, 'keys-empty', (page) => page.goto(owner.url('/settings/api-keys')));
  });

  it('the key table with keys in every state, its row menu, and the create form', async () => {
    await createKey(owner, { name: 'Deploy bot', permissions: ['records:read', 'records:write'], expiry: '90' });
    await createKey(owner, { name: 'Billing sync', permissions: ['records:read'], expiry: '7' });
    const legacy = await createKey(owner, { name: 'Legacy importer', permissions: ['files:upload'], expiry: 'custom', date: isoDateInDays(3) });
    await createKey(owner, { name: 'Old CI token', permissions: ['files:read', 'files:upload'], expiry: '30' });
    await createKey(owner, { name: 'Analytics export', fullAccess: true, expiry: 'never' });
    const { page } = owner;
    await page.goto(owner.url('/settings/api-keys'));
    await openRowAction(page, 'Old CI token', 'Revoke');
    await page.locator('dialog[open]').getByRole('button', { name: 'Revoke key' }).click();
    await page.waitForURL('**/settings/api-keys**');
    await server.stop();
    expireKey(server.dbPath, legacy.id, 2);
    await server.start();

    // Each state reads right before it is photographed.
    await page.goto(owner.url('/settings/api-keys'));
    const status = async (name) => (await cell(keyRow(page, name), 'Status').innerText()).trim();
    const expected = { 'Deploy bot': 'Active', 'Billing sync': 'Active', 'Legacy importer': 'Expired', 'Old CI token': 'Revoked', 'Analytics export': 'Active' };
    for (const [name, want] of Object.entries(expected)) assert.equal(await status(name), want, `${name} is ${want}`);
    const expires = (name) => cell(keyRow(page, name), 'Expires');
    assert.match(await expires('Billing sync').locator('.soon').innerText(), /⚠\s*in [67] days/, 'a key expiring within 7 days is highlighted');
    assert.equal(await expires('Deploy bot').locator('.soon').count(), 0, 'a 90-day key is not highlighted');
    assert.match(await expires('Analytics export').innerText(), /⚠ Never/, 'a key without expiry says Never with a warning mark');
    assert.equal((await expires('Old CI token').innerText()).trim(), '—', 'a revoked key shows no expiry');
    for (const name of ['Legacy importer', 'Old CI token']) {
      assert.match(await keyRow(page, name).getAttribute('class'), /row-inactive/, `${name} is muted`);
    }
    // Only what still applies: no Revoke on an expired key, nothing but History and Delete on a revoked one.
    const menu = async (name) => {
      await openRowMenu(keyRow(page, name));
      return keyRow(page, name).locator('.menu-panel a').allInnerTexts();
    };
    assert.deepEqual(await menu('Deploy bot'), ['History', 'Edit', 'Regenerate', 'Disable', 'Revoke', 'Delete']);
    assert.deepEqual(await menu('Legacy importer'), ['History', 'Edit', 'Regenerate', 'Delete']);
    assert.deepEqual(await menu('Old CI token'), ['History', 'Delete']);
    await both(owner, 'keys-table', (p) => p.goto(owner.url('/settings/api-keys')));
    await both(owner, 'keys-row-menu', async (p) => {
      await p.goto(owner.url('/settings/api-keys'));
      await openRowMenu(keyRow(p, 'Deploy bot'));
    });
    await both(owner, 'create-form', (p) => p.goto(owner.url('/settings/api-keys/new')));
    owner.allowStatus(422, '/settings/api-keys');
    await both(owner, 'create-form-errors', async (p) => {
      await p.goto(owner.url('/settings/api-keys/new'));
      await p.locator('#expiry').selectOption('custom');
      await p.getByRole('button', { name: 'Create key' }).click();
      await p.locator('[data-error-summary]').waitFor();
    });
  });

  it('the reveal page, once and after', async () => {
    let id;
    await both(owner, 'reveal', async (p, label) => {
      await p.goto(owner.url('/settings/api-keys'));
      ({ id } = await createKey(owner, { name: `Throwaway ${label}`, permissions: ['records:read'], expiry: '7' }));
    });
    await both(owner, 'reveal-gone', (p) => p.goto(owner.url(`/settings/api-keys/${id}/reveal`)));
    // The confirmation pages as they are without JavaScript (a link opens them as dialogs).
    for (const action of ['regenerate', 'disable', 'revoke', 'delete']) {
      await both(owner, `confirm-${action}`, (p) => p.goto(owner.url(`/settings/api-keys/${id}/${action}`)));
    }
    await both(owner, 'edit-key', (p) => p.goto(owner.url(`/settings/api-keys/${id}/edit`)));
    await both(owner, 'bulk-confirm', (p) =>
      p.goto(owner.url('/settings/api-keys/bulk?action=revoke&all=matching&status=active')));
    await both(owner, 'dialog-revoke', async (p) => {
      await p.goto(owner.url('/settings/api-keys'));
      await openRowAction(p, 'Deploy bot', 'Revoke');
      await p.locator('dialog[open]').waitFor();
    });
  });

  it('the audit log, members, their dialogs and workspaces', async () => {
    await both(owner, 'audit-log', (p) => p.goto(owner.url('/settings/audit-log')));
    await addViewer(owner, 'viewer@example.com', 'viewer password 2026');
    await both(owner, 'members', (p) => p.goto(owner.url('/settings/members')));
    const viewerId = await memberRow(owner.page, 'viewer@example.com').getAttribute('data-member-id');
    await both(owner, 'member-role', (p) => p.goto(owner.url(`/settings/members/${viewerId}/role`)));
    await both(owner, 'member-remove', (p) => p.goto(owner.url(`/settings/members/${viewerId}/remove`)));
    await both(owner, 'workspace-new', (p) => p.goto(owner.url('/workspaces/new')));
    await typeInto(owner.page, 'Workspace name', 'Staging');
    await owner.page.getByRole('button', { name: 'Create workspace' }).click();
    await owner.page.waitForURL('**/settings/api-keys');
    await both(owner, 'workspace-menu', async (p) => {
      await p.goto(owner.url('/settings/audit-log'));
      await p.locator('details.workspace-menu > summary').click();
      await p.getByRole('button', { name: 'Acme' }).waitFor();
    });
  });

  it('your account, its sessions, and a password reset link', async () => {
    await both(owner, 'account', (p) => p.goto(owner.url('/settings/account')));
    owner.allowStatus(422, '/settings/account/password');
    await both(owner, 'account-password-errors', async (p) => {
      await p.goto(owner.url('/settings/account'));
      await typeInto(p, 'New password', 'short');
      await p.getByRole('button', { name: 'Change password' }).click();
      await p.locator('#password-errors').waitFor();
    });
    await both(owner, 'sessions', (p) => p.goto(owner.url('/settings/account/sessions')));
    // Back to Acme (the workspace test before created Staging and moved there), where the viewer is.
    await owner.page.goto(owner.url('/settings/members'));
    await owner.page.locator('details.workspace-menu > summary').click();
    await owner.page.getByRole('button', { name: 'Acme' }).click();
    await owner.page.waitForURL('**/settings/members');
    const viewerId = await memberRow(owner.page, 'viewer@example.com').getAttribute('data-member-id');
    const start = owner.url(`/settings/members/${viewerId}/reset-password`);
    await both(owner, 'member-reset', (p) => p.goto(start));
    let link;
    await both(owner, 'member-reset-link', async (p) => {
      await p.goto(start);
      await p.getByRole('button', { name: 'Make reset link' }).click();
      link = await p.locator('#reset-link').inputValue();
    });
    assert.match(link, /\/password-reset\/[A-Za-z0-9_-]{43}$/);
    await both(anon, 'password-reset', (p) => p.goto(link));
  });

  it('invitations, two-factor sign-in, workspace settings and policies', async () => {
    let link;
    await both(owner, 'invitation-link', async (p, label) => {
      link = await invite(owner, `new-${label}@example.com`, 'admin');
    });
    await both(owner, 'members-invitations', (p) => p.goto(owner.url('/settings/members')));
    await both(anon, 'invitation-accept', (p) => p.goto(link));
    await both(owner, 'workspace-settings', (p) => p.goto(owner.url('/settings/workspace')));
    await both(owner, 'policies', (p) => p.goto(owner.url('/settings/policies')));
    owner.allowStatus(422, '/settings/policies');
    await both(owner, 'policies-errors', async (p) => {
      await p.goto(owner.url('/settings/policies'));
      await p.locator('#unused_revoke_days').fill('3');
      await p.getByRole('button', { name: 'Save policies' }).click();
      await p.locator('[data-error-summary]').waitFor();
    });
    await both(owner, 'two-factor-off', (p) => p.goto(owner.url('/settings/account/two-factor')));
    await both(owner, 'two-factor-setup', async (p) => {
      await p.goto(owner.url('/settings/account/two-factor'));
      // Set up once; at the second size the pending set-up is still showing.
      const start = p.getByRole('button', { name: 'Set up two-factor sign-in' });
      if (await start.count()) await Promise.all([p.waitForLoadState('load'), start.click()]);
      await p.locator('#totp-secret').waitFor();
    });
    // The code step of a sign-in, for the viewer once they have two-factor.
    const viewer = await openSession(browser, server);
    try {
      await signIn(viewer, 'viewer@example.com', 'viewer password 2026');
      const { page } = viewer;
      await page.goto(viewer.url('/settings/account/two-factor'));
      await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Set up two-factor sign-in' }).click()]);
      const secret = (await page.locator('#totp-secret').textContent()).replace(/\s/g, '');
      await freshStep();
      await typeInto(page, 'Code from the app', totp(secret));
      await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Turn on two-factor sign-in' }).click()]);
      await page.locator('#recovery-codes').waitFor();
      await capture(page, 'recovery-codes', '1440');
      await Promise.all([page.waitForURL('**/signed-out'), page.getByRole('button', { name: 'Sign out' }).click()]);
      await page.goto(viewer.url('/login'));
      await typeInto(page, 'Email', 'viewer@example.com');
      await typeInto(page, 'Password', 'viewer password 2026');
      await Promise.all([page.waitForURL('**/login/two-factor'), page.keyboard.press('Enter')]);
      await both(viewer, 'sign-in-two-factor', (p) => p.goto(viewer.url('/login/two-factor')));
    } finally {
      await viewer.close();
    }
  });

  it('webhooks: the list, the endpoint form and its errors, the secret, an endpoint and its confirmations', async () => {
    await both(owner, 'webhooks-empty', (p) => p.goto(owner.url('/settings/webhooks')));
    await both(owner, 'webhook-form', (p) => p.goto(owner.url('/settings/webhooks/new')));
    owner.allowStatus(422, '/settings/webhooks');
    await both(owner, 'webhook-form-errors', async (p) => {
      await p.goto(owner.url('/settings/webhooks/new'));
      await p.locator('#url').fill('https://10.0.0.1/hook');
      await p.getByRole('button', { name: 'Add endpoint' }).click();
      await p.locator('[data-error-summary]').waitFor();
    });
    let id;
    await both(owner, 'webhook-secret', async (p, label) => {
      await p.goto(owner.url('/settings/webhooks/new'));
      await p.locator('#url').fill(`https://hooks.example.com/keyward-${label}`);
      await Promise.all([p.waitForURL(/\/settings\/webhooks\/\d+\/secret$/), p.getByRole('button', { name: 'Add endpoint' }).click()]);
      id = p.url().match(/webhooks\/(\d+)\/secret/)[1];
    });
    await both(owner, 'webhooks', (p) => p.goto(owner.url('/settings/webhooks')));
    await both(owner, 'webhook-endpoint', (p) => p.goto(owner.url(`/settings/webhooks/${id}`)));
    await both(owner, 'webhook-edit', (p) => p.goto(owner.url(`/settings/webhooks/${id}/edit`)));
    // A delivery that could not be made (the name does not resolve): its row with the reason.
    await owner.page.goto(owner.url(`/settings/webhooks/${id}`));
    await Promise.all([owner.page.waitForLoadState(), owner.page.getByRole('button', { name: 'Send test event' }).click()]);
    for (let i = 0; i < 100; i++) {
      await owner.page.goto(owner.url(`/settings/webhooks/${id}`));
      if ((await owner.page.locator('table.deliveries-table td[data-label="Attempts"]').first().innerText()).trim() !== '0') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await both(owner, 'webhook-deliveries', (p) => p.goto(owner.url(`/settings/webhooks/${id}`)));
    for (const action of ['delete', 'rotate-secret']) {
      await both(owner, `webhook-${action}`, (p) => p.goto(owner.url(`/settings/webhooks/${id}/${action}`)));
    }
  });

  it('management tokens: the list, the form and its errors, the token once and after, its revoke confirmation and dialog; the API reference', async () => {
    await both(owner, 'tokens-empty', (p) => p.goto(owner.url('/settings/management-tokens')));
    await both(owner, 'token-form', (p) => p.goto(owner.url('/settings/management-tokens/new')));
    owner.allowStatus(422, '/settings/management-tokens');
    await both(owner, 'token-form-errors', async (p) => {
      await p.goto(owner.url('/settings/management-tokens/new'));
      await p.locator('input[name="scopes"][value="keys:read"]').uncheck();
      await p.getByRole('button', { name: 'Create token' }).click();
      await p.locator('[data-error-summary]').waitFor();
    });
    let id;
    await both(owner, 'token-reveal', async (p, label) => {
      await p.goto(owner.url('/settings/management-tokens/new'));
      await p.locator('#name').fill(`Terraform ${label}`);
      await p.locator('input[name="scopes"][value="keys:write"]').check();
      // A sign-in older than 10 minutes asks for the password again (this file runs long).
      const sudo = p.locator('#confirm_identity');
      if (await sudo.count()) await sudo.fill(OWNER.password);
      await Promise.all([
        p.waitForURL(/\/settings\/management-tokens\/\d+\/token$/),
        p.getByRole('button', { name: 'Create token' }).click(),
      ]);
      id = p.url().match(/management-tokens\/(\d+)\/token/)[1];
    });
    await both(owner, 'token-reveal-gone', (p) => p.goto(owner.url(`/settings/management-tokens/${id}/token`)));
    await both(owner, 'tokens', (p) => p.goto(owner.url('/settings/management-tokens')));
    await both(owner, 'token-revoke', (p) => p.goto(owner.url(`/settings/management-tokens/${id}/revoke`)));
    await both(owner, 'dialog-revoke-token', async (p) => {
      await p.goto(owner.url('/settings/management-tokens'));
      await p.locator(`tr[data-token-id="${id}"]`).getByRole('link', { name: /^Revoke / }).click();
      await p.locator('dialog[open]').waitFor();
    });
    await both(owner, 'api-reference', (p) => p.goto(owner.url('/docs/api')));
  });

  it('signed out, and a page that does not exist', async () => {
    anon.allowStatus(404, '/no-such-page');
    await both(anon, 'not-found', (p) => p.goto(anon.url('/no-such-page')));
    await both(anon, 'sign-in', (p) => p.goto(anon.url('/login')));
    await both(anon, 'signed-out', async (p) => {
      await signIn(anon, OWNER.email, OWNER.password);
      await p.getByRole('button', { name: 'Sign out' }).click();
      await p.waitForURL('**/signed-out');
    });
  });
});
