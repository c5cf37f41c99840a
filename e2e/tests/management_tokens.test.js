// Management tokens as an owner uses them: make one through the form (after a mistake), copy
// it from the page that shows it once, call the management API with it from outside the
// browser, find it masked in the list and revoke it, with and without JavaScript. And the
// API reference page those tokens are for: its operations, its in-page links, no script needed.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { expectAccessible } from '../lib/axe.js';
import { launchBrowser, openSession } from '../lib/browser.js';
import { cancelControl, focused, show, waitForFocus } from '../lib/checks.js';
import { OWNER, chooseExpiry, setupOwner, signIn, typeIntoLabelled } from '../lib/console.js';
import { startKeyward } from '../lib/server.js';

const TOKEN = /^kw_mgmt_[0-9A-Za-z]{38}$/;

/** `GET /api/v1/manage/keys` as a script would call it, with the token as a bearer. */
async function listKeys(server, token) {
  const res = await fetch(`${server.url}/api/v1/manage/keys`, {
    headers: token ? { Authorization: `Bearer ${token}` } : {},
  });
  const text = await res.text();
  let body = text;
  try {
    body = JSON.parse(text);
  } catch {
    // a problem document is JSON too; anything else stays text for the message
  }
  return { status: res.status, body };
}

/** The list's row for a token name. */
function tokenRow(page, name) {
  return page.locator('table.tokens-table tr[data-token-id]').filter({
    has: page.locator('td[data-label="Name"]', { hasText: name }),
  });
}

async function cellText(row, label) {
  return (await row.locator(`td[data-label="${label}"]`).innerText()).replace(/\s+/g, ' ').trim();
}

/** Clicks a scope's label (`keys:write` → the checkbox with that value) and checks it took. */
async function setScope(page, scope, checked) {
  const box = page.locator(`input[name="scopes"][value="${scope}"]`);
  const id = await box.getAttribute('id');
  if ((await box.isChecked()) !== checked) await page.locator(`label[for="${id}"]`).click();
  assert.equal(await box.isChecked(), checked, `clicking the label of ${scope} should ${checked ? 'tick' : 'clear'} it`);
}

/** Every `href="#x"` on the page leads to an element with id `x`: the list of those that don't. */
function brokenInPageLinks(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('a[href^="#"]')]
      .map((a) => decodeURIComponent(a.getAttribute('href').slice(1)))
      .filter((id) => !document.getElementById(id)),
  );
}

describe('management tokens', () => {
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

  it('the owner makes a token (after a form error), copies it once, uses it, and revokes it in a dialog', async () => {
    const { page } = owner;
    await page.goto(owner.url('/settings/api-keys'));
    await Promise.all([
      page.waitForURL('**/settings/management-tokens'),
      page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Management tokens' }).click(),
    ]);
    assert.ok((await page.getByText('No management tokens yet').count()) > 0, 'an empty list says so');
    await expectAccessible(page, 'the empty management tokens page');
    await Promise.all([page.waitForURL('**/settings/management-tokens/new'), page.getByRole('link', { name: 'Create token' }).click()]);
    await expectAccessible(page, 'the token form');

    // No scope: the form comes back with the error, and what was typed.
    await typeIntoLabelled(page, 'name', 'Terraform');
    await setScope(page, 'keys:read', false);
    await chooseExpiry(page, '30');
    owner.allowStatus(422, '/settings/management-tokens');
    await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Create token' }).click()]);
    const summary = page.locator('[data-error-summary]');
    await summary.waitFor();
    assert.match(await summary.innerText(), /No token was created[\s\S]*Scopes: Choose at least one scope\./);
    assert.ok(await waitForFocus(page, summary), `the error summary takes focus; focus is on ${show(await focused(page))}`);
    assert.equal(await page.locator('#name').inputValue(), 'Terraform', 'the name is kept');
    assert.equal(await page.locator('select#expiry').inputValue(), '30', 'the expiry is kept');
    const fieldError = page.locator('#scopes-error');
    assert.equal((await fieldError.innerText()).trim(), 'Choose at least one scope.', 'the error shows by the scopes too');
    assert.equal(await page.locator('input[name="scopes"]:checked').count(), 0, 'nothing was ticked behind the owner’s back');
    assert.deepEqual(await brokenInPageLinks(page), [], 'the error summary links to fields that exist');
    await summary.getByRole('link', { name: 'Scopes' }).click();
    const firstScope = page.locator('input[name="scopes"]').first();
    assert.ok(await waitForFocus(page, firstScope), `the summary's link leads to the first scope; focus is on ${show(await focused(page))}`);
    const described = await firstScope.evaluate((el) => el.closest('fieldset').getAttribute('aria-describedby') || '');
    assert.ok(described.split(/\s+/).includes('scopes-error'), 'the scopes group is described by its error');
    await expectAccessible(page, 'the token form with an error');

    // Now with scopes.
    await setScope(page, 'keys:read', true);
    await setScope(page, 'keys:write', true);
    await Promise.all([
      page.waitForURL(/\/settings\/management-tokens\/\d+\/token$/),
      page.getByRole('button', { name: 'Create token' }).click(),
    ]);
    assert.ok((await page.getByText('This token will not be shown again').count()) > 0, 'the one-time warning');
    const token = await page.locator('#management-token').inputValue();
    assert.match(token, TOKEN, 'the page shows a whole kw_mgmt_ token');
    assert.equal(await page.locator('[data-no-js-hint]').isVisible(), false, 'with JavaScript the copy button replaces the hint');
    await page.locator('button[data-copy-target="management-token"]').click();
    await page.locator('.copy-status[role="status"]').filter({ hasText: /\S/ }).first().waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), token, 'Copy puts the exact token on the clipboard');
    await expectAccessible(page, 'the token page');
    await page.reload();
    assert.ok((await page.getByText('This token can no longer be displayed').count()) > 0, 'reload: the token is gone');
    assert.equal((await page.content()).includes(token), false, 'and not in the page at all');
    await expectAccessible(page, 'the token page once shown');

    // The token works from outside the browser; without one the API refuses.
    const listed = await listKeys(server, token);
    assert.equal(listed.status, 200, `the token lists keys: ${JSON.stringify(listed.body)}`);
    assert.ok(Array.isArray(listed.body.data), 'a page of keys');
    assert.equal((await listKeys(server, null)).status, 401, 'no token, no answer');

    await Promise.all([
      page.waitForURL('**/settings/management-tokens'),
      page.getByRole('link', { name: /Back to Management tokens/ }).click(),
    ]);
    const row = tokenRow(page, 'Terraform');
    assert.equal(await row.count(), 1, 'the list shows the token');
    assert.equal(await cellText(row, 'Token'), `kw_mgmt_\u2026${token.slice(-4)}`, 'masked: prefix and last four');
    assert.equal(await cellText(row, 'Status'), 'Active');
    assert.match(await cellText(row, 'Scopes'), /keys:read[\s\S]*keys:write|keys:write/);
    assert.match(await cellText(row, 'Created'), new RegExp(`by ${OWNER.email.replace('.', '\\.')}`));
    assert.equal((await page.content()).includes(token), false, 'the list never holds the token');
    await expectAccessible(page, 'the management tokens list');

    // Revoke in the dialog: it opens on Cancel, Cancel changes nothing, the button revokes.
    const revoke = row.getByRole('link', { name: 'Revoke Terraform' });
    await revoke.click();
    const dialog = page.locator('dialog[open]');
    await dialog.waitFor();
    assert.equal(new URL(page.url()).pathname, '/settings/management-tokens', 'the dialog opens over the list');
    assert.ok(await waitForFocus(page, cancelControl(dialog)), `the dialog opens with focus on Cancel; focus is on ${show(await focused(page))}`);
    assert.match(await dialog.innerText(), new RegExp(`kw_mgmt_\u2026${token.slice(-4)}`), 'it names the masked token');
    await expectAccessible(page, 'the revoke dialog');
    await cancelControl(dialog).click();
    await dialog.waitFor({ state: 'detached' });
    assert.ok(await waitForFocus(page, revoke), 'Cancel gives focus back to the Revoke link');
    assert.equal((await listKeys(server, token)).status, 200, 'Cancel changed nothing');
    await revoke.click();
    await dialog.waitFor();
    await Promise.all([page.waitForLoadState('load'), dialog.getByRole('button', { name: 'Revoke token' }).click()]);
    await page.waitForURL('**/settings/management-tokens');
    assert.ok((await page.getByText(/Revoked “Terraform”/).count()) > 0, 'a flash says it was revoked');
    assert.equal(await cellText(tokenRow(page, 'Terraform'), 'Status'), 'Revoked');
    assert.equal(await tokenRow(page, 'Terraform').getByRole('link', { name: /Revoke/ }).count(), 0, 'nothing left to revoke');
    const refused = await listKeys(server, token);
    assert.equal(refused.status, 401, 'the revoked token is refused');
    await expectAccessible(page, 'the list with a revoked token');
    await owner.expectNoProblems();
  });

  it('without JavaScript: make a token, read it off the page, and revoke it on the confirmation page', async () => {
    const plain = await openSession(browser, server, { javaScriptEnabled: false });
    try {
      await signIn(plain, OWNER.email, OWNER.password);
      const { page } = plain;
      await page.goto(plain.url('/settings/management-tokens/new'));
      await typeIntoLabelled(page, 'name', 'CI deploys');
      await setScope(page, 'keys:read', true);
      await chooseExpiry(page, '7');
      await Promise.all([page.waitForURL(/\/token$/), page.getByRole('button', { name: 'Create token' }).click()]);
      const token = await page.locator('#management-token').inputValue();
      assert.match(token, TOKEN);
      assert.equal(await page.locator('button[data-copy-target]').isVisible(), false, 'no copy button without a script');
      assert.ok(await page.locator('[data-no-js-hint]').isVisible(), 'the hint says how to copy by hand');
      assert.equal((await listKeys(server, token)).status, 200, 'the token read off the page works');

      await page.goto(plain.url('/settings/management-tokens'));
      const row = tokenRow(page, 'CI deploys');
      assert.equal(await cellText(row, 'Status'), 'Active');
      await Promise.all([page.waitForURL(/\/revoke$/), row.getByRole('link', { name: 'Revoke CI deploys' }).click()]);
      const panel = page.locator('section.panel[data-confirm-panel]');
      assert.match(await panel.locator('h1').innerText(), /Revoke “CI deploys”\?/);
      await Promise.all([page.waitForURL('**/settings/management-tokens'), panel.locator('a[data-cancel]').click()]);
      assert.equal(await cellText(tokenRow(page, 'CI deploys'), 'Status'), 'Active', 'Cancel changed nothing');
      await Promise.all([page.waitForURL(/\/revoke$/), tokenRow(page, 'CI deploys').getByRole('link', { name: 'Revoke CI deploys' }).click()]);
      await Promise.all([page.waitForURL('**/settings/management-tokens'), page.getByRole('button', { name: 'Revoke token' }).click()]);
      assert.equal(await cellText(tokenRow(page, 'CI deploys'), 'Status'), 'Revoked');
      assert.equal((await listKeys(server, token)).status, 401, 'the revoked token is refused');
      await plain.expectNoProblems();
    } finally {
      await plain.close();
    }
  });

  it('the API reference lists every operation, its in-page links lead somewhere, with and without JavaScript', async () => {
    const doc = await (await fetch(`${server.url}/api/v1/openapi.json`)).json();
    const expected = Object.entries(doc.paths).flatMap(([p, item]) =>
      Object.keys(item)
        .filter((m) => ['get', 'post', 'patch', 'put', 'delete'].includes(m))
        .map((m) => `${m.toUpperCase()} ${p}`),
    );
    assert.ok(expected.length > 5, 'the document has operations');

    const plain = await openSession(browser, server, { javaScriptEnabled: false });
    try {
      await signIn(plain, OWNER.email, OWNER.password);
      for (const session of [owner, plain]) {
        const { page } = session;
        const how = session === plain ? 'without JavaScript' : 'with JavaScript';
        await page.goto(session.url('/settings/management-tokens'));
        await Promise.all([page.waitForURL('**/docs/api'), page.getByRole('link', { name: 'management API' }).click()]);
        assert.equal((await page.locator('h1').innerText()).trim(), doc.info.title, `${how}: the title`);
        const toc = page.getByRole('navigation', { name: 'Operations' });
        const listedOps = (await toc.locator('li a code').allInnerTexts()).map((t) => t.trim());
        assert.deepEqual([...listedOps].sort(), [...expected].sort(), `${how}: the contents list every operation once`);
        assert.deepEqual(await brokenInPageLinks(page), [], `${how}: every in-page link has its target`);
        // Following a link from the contents shows that operation.
        const link = toc.getByRole('link', { name: 'GET /api/v1/manage/keys', exact: false }).first();
        const target = (await link.getAttribute('href')).slice(1);
        await link.click();
        assert.equal(new URL(page.url()).hash, `#${target}`);
        const op = page.locator(`[id="${target}"]`);
        assert.ok(await op.isVisible(), `${how}: the operation is on the page`);
        assert.ok(await op.evaluate((el) => el.getBoundingClientRect().top < window.innerHeight && el.getBoundingClientRect().bottom > 0),
          `${how}: and scrolled into view`);
        assert.match(await op.innerText(), /GET \/api\/v1\/manage\/keys[\s\S]*keys:read[\s\S]*200/);
        // axe runs as a script in the page, so only where scripts run; the page has none of its own.
        if (session === owner) await expectAccessible(page, 'the API reference');
        await session.expectNoProblems();
      }
    } finally {
      await plain.close();
    }
  });
});
