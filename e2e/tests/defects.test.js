// The nine console defects of the issue, one test each (D1–D9): each fails on the unfixed
// console for the defect's own reason and passes once the fix lands.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { launchBrowser, openSession } from '../lib/browser.js';
import {
  cancelControl,
  clickLabelWords,
  createWorkspace,
  currentWorkspace,
  dayInWords,
  focused,
  navigating,
  show,
  switchWorkspace,
  waitForFocus,
  workspaceControl,
} from '../lib/checks.js';
import {
  OWNER,
  cell,
  chooseExpiry,
  createKey,
  keyRow,
  masked,
  memberRow,
  openMemberAction,
  openRowAction,
  openRowMenu,
  setupOwner,
  signIn,
  tickPermission,
  typeIntoLabelled,
} from '../lib/console.js';
import { addViewer } from '../lib/members.js';
import { startKeyward } from '../lib/server.js';

const VIEWER = { email: 'viewer@example.com', password: 'viewer password 2026' };
const SECOND_WORKSPACE = 'Globex';

describe('the nine console defects', () => {
  let server;
  let browser;
  let owner;
  let page;

  before(async () => {
    server = await startKeyward();
    browser = await launchBrowser();
    owner = await openSession(browser, server, { clipboard: true });
    page = owner.page;
    await setupOwner(owner);
  });

  after(async () => {
    await owner?.close();
    await browser?.close();
    await server?.dispose();
  });

  it('D1. Change role: clicking a role name in the dialog picks that role and the change applies', async () => {
    await addViewer(owner, VIEWER.email, VIEWER.password);
    await page.goto(owner.url('/settings/members'));
    await openMemberAction(page, VIEWER.email, 'Change role');
    const dialog = page.locator('dialog[open]');
    await dialog.waitFor();

    // Click the visible role name: an element of its own where the markup has one, else the
    // words at the start of the label's text.
    const roleName = dialog.getByText('Admin', { exact: true });
    if (await roleName.count()) await roleName.first().click();
    else await clickLabelWords(page, dialog, 'Admin');
    const adminRadio = dialog.locator('input[type="radio"][value="admin"]');
    assert.equal(await adminRadio.isChecked(), true, 'clicking the text "Admin" in the dialog should tick the dialog\'s own Admin radio');
    assert.equal(await dialog.getByRole('radio', { name: /^Admin/ }).count(), 1, 'the dialog\'s Admin radio has the accessible name "Admin…"');
    assert.equal(await dialog.getByRole('radio', { name: /^Admin/ }).isChecked(), true, 'the radio named Admin is the checked one');

    await navigating(page, () => dialog.getByRole('button', { name: 'Change role' }).click());
    assert.equal(new URL(page.url()).pathname, '/settings/members', 'back on the members page');
    const role = (await cell(memberRow(page, VIEWER.email), 'Role').innerText()).trim();
    assert.match(role, /Admin/, `the members table should show ${VIEWER.email} as Admin; it says "${role}"`);
    await owner.expectNoProblems();
  });

  it('D2. Sign out lands on /signed-out, and Back does not show the keys again', async () => {
    const session = await openSession(browser, server);
    try {
      const p = session.page;
      await signIn(session, OWNER.email, OWNER.password);
      const name = 'Sign-out canary 7Q';
      const { secret } = await createKey(session, { name, permissions: ['records:read'] });
      const res = await p.goto(session.url('/settings/api-keys'));
      assert.equal(await keyRow(p, name).count(), 1, 'the key table lists the canary key');
      assert.match(res.headers()['cache-control'] || '', /no-store/, 'console pages are sent with Cache-Control: no-store');

      const signOut = p.locator('header').getByRole('button', { name: 'Sign out', includeHidden: true });
      if (!(await signOut.isVisible())) {
        await p.locator('header details').filter({ has: signOut }).locator(':scope > summary').click();
      }
      await Promise.all([p.waitForURL((u) => u.pathname !== '/settings/api-keys'), signOut.click()]);
      await p.waitForLoadState('load');
      const landed = new URL(p.url()).pathname;
      const heading = await p.getByRole('heading', { level: 1 }).first().innerText().catch(() => '');
      const againLinks = await p.getByRole('link', { name: 'Sign in again' }).count();

      await p.goBack();
      await p.waitForLoadState('load');
      const back = new URL(p.url()).pathname;
      const html = await p.content();
      assert.equal(html.includes(name), false, `Back after signing out shows the key name (page ${back})`);
      assert.equal(html.includes(masked(secret)), false, `Back after signing out shows the masked key (page ${back})`);
      assert.ok(['/login', '/signed-out'].includes(back), `Back after signing out should show the sign-in or signed-out page, not ${back}`);

      assert.equal(landed, '/signed-out', `signing out should land on /signed-out, not ${landed}`);
      assert.equal(heading.trim(), 'You have signed out', 'the signed-out page has the h1 "You have signed out"');
      assert.equal(againLinks, 1, 'the signed-out page has a "Sign in again" link');
      await session.expectNoProblems();
    } finally {
      await session.close();
    }
  });

  it('D3. Workspace switcher: arrow keys do not switch; the menu switches and keeps the section', async () => {
    const session = await openSession(browser, server);
    try {
      const p = session.page;
      await signIn(session, OWNER.email, OWNER.password);
      await createWorkspace(p, SECOND_WORKSPACE);
      assert.match(await currentWorkspace(p), new RegExp(SECOND_WORKSPACE), 'a new workspace becomes the current one');
      await switchWorkspace(p, OWNER.workspace);

      await p.goto(session.url('/settings/audit-log'));
      assert.match(await currentWorkspace(p), new RegExp(OWNER.workspace), `the header shows ${OWNER.workspace} as current`);
      await (await workspaceControl(p)).focus();
      await p.keyboard.press('ArrowDown');
      await p.waitForTimeout(800); // proving that nothing happens
      await p.waitForLoadState('load');
      const path = new URL(p.url()).pathname;
      assert.equal(path, '/settings/audit-log', `ArrowDown on the workspace control should not navigate; the page went to ${path}`);
      const still = await currentWorkspace(p);
      assert.ok(still.includes(OWNER.workspace) && !still.includes(SECOND_WORKSPACE), `ArrowDown should not switch workspace; the header says "${still}"`);

      const menu = p.locator('header details.workspace-menu');
      assert.equal(await menu.count(), 1, 'the header has a details.workspace-menu');
      await menu.locator(':scope > summary').click();
      await navigating(p, () => menu.getByRole('button', { name: SECOND_WORKSPACE, exact: true }).click());
      const landed = new URL(p.url()).pathname;
      assert.equal(landed, '/settings/audit-log', `switching should stay in the section the user was in, not go to ${landed}`);
      assert.match(await currentWorkspace(p), new RegExp(SECOND_WORKSPACE), `the header now shows ${SECOND_WORKSPACE} as current`);
      await session.expectNoProblems();
    } finally {
      await session.close();
    }
  });

  it('D4. Regenerate, Revoke and Delete dialogs open with focus on Cancel; Enter cancels', async () => {
    const name = 'Focus probe';
    await page.goto(owner.url('/settings/api-keys'));
    const { secret } = await createKey(owner, { name, permissions: ['records:read'] });
    for (const action of ['Regenerate', 'Revoke', 'Delete']) {
      await page.goto(owner.url('/settings/api-keys'));
      await openRowAction(page, name, action);
      const dialog = page.locator('dialog[open]');
      await dialog.waitFor();
      const cancel = cancelControl(dialog);
      const onCancel = await waitForFocus(page, cancel);
      assert.ok(onCancel, `the ${action} dialog should open with focus on Cancel; focus is on ${show(await focused(page))}`);

      await page.keyboard.press('Enter');
      await dialog.waitFor({ state: 'detached' });
      await page.waitForLoadState('load');
      await page.goto(owner.url('/settings/api-keys'));
      const row = keyRow(page, name);
      assert.equal(await row.count(), 1, `after Enter in the ${action} dialog the key is still listed`);
      assert.equal((await cell(row, 'Status').innerText()).trim(), 'Active', `after Enter in the ${action} dialog the key is still Active`);
      const res = await server.whoami(secret);
      assert.equal(res.status, 200, `after Enter in the ${action} dialog the key still works: ${JSON.stringify(res.body)}`);
    }
    await owner.expectNoProblems();
  });

  it('D5. Copy: no Copy button without JavaScript; with it, no no-JS hint and Copy copies', async () => {
    const plain = await openSession(browser, server, { javaScriptEnabled: false });
    try {
      await signIn(plain, OWNER.email, OWNER.password);
      await createKey(plain, { name: 'Copy probe plain', permissions: ['records:read'] });
      const p = plain.page;
      const copyButtons = await p.getByRole('button', { name: /Copy/ }).filter({ visible: true }).count();
      assert.equal(copyButtons, 0, `without JavaScript the reveal page should show no Copy button; it shows ${copyButtons}`);
      assert.match(await p.locator('main').innerText(), /select/i, 'without JavaScript a hint says to select the field\'s text');
      await plain.expectNoProblems();
    } finally {
      await plain.close();
    }

    await page.goto(owner.url('/settings/api-keys'));
    const { secret } = await createKey(owner, { name: 'Copy probe', permissions: ['records:read'] });
    const copy = page.getByRole('button', { name: /Copy/ }).filter({ visible: true });
    assert.equal(await copy.count(), 1, 'with JavaScript the reveal page shows one Copy button');
    const hint = await page.getByText(/Without JavaScript/i).filter({ visible: true }).count();
    assert.equal(hint, 0, 'with JavaScript no "Without JavaScript" text is visible on the reveal page');
    await copy.click();
    await page.getByRole('status').filter({ hasText: 'Copied' }).first().waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret, 'Copy puts the exact key on the clipboard');
    await owner.expectNoProblems();
  });

  it('D6. Audit log: a Full access key\'s creation reads "Full access", not "*"', async () => {
    const name = 'Ops superkey'; // a name without the words the details should use
    await page.goto(owner.url('/settings/api-keys'));
    await createKey(owner, { name, fullAccess: true });
    await page.goto(owner.url('/settings/audit-log'));
    // The action is `data-action` on the Action cell or inside it, or (old markup) its text.
    const rows = page.locator('tr[data-event-id]').filter({ hasText: name });
    const created = [];
    for (const row of await rows.all()) {
      const code = await row.evaluate((tr) => {
        const td = tr.querySelector('td[data-label="Action"]');
        if (!td) return '';
        const el = td.matches('[data-action]') ? td : td.querySelector('[data-action]');
        return el ? el.getAttribute('data-action') : td.textContent.trim();
      });
      if (code === 'key.created') created.push(row);
    }
    assert.equal(created.length, 1, `the audit log has one key.created row for ${name}`);
    const details = created[0].locator('td[data-label="Details"]');
    const text = ((await details.count()) ? await details.innerText() : await created[0].innerText()).replace(/\s+/g, ' ');
    assert.doesNotMatch(text, /Permissions: \*/, `the key.created details should not say "Permissions: *": ${text}`);
    assert.match(text, /Full access/, `the key.created details should say "Full access": ${text}`);
    await owner.expectNoProblems();
  });

  it('D7. A create form with errors focuses its error summary, which links to the field', async () => {
    owner.allowStatus(422, '/settings/api-keys');
    await page.goto(owner.url('/settings/api-keys/new'));
    await tickPermission(page, 'records:read');
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/settings/api-keys') && r.request().method() === 'POST'),
      page.getByRole('button', { name: 'Create key' }).click(),
    ]);
    assert.equal(response.status(), 422, 'an empty name is refused with 422');
    await page.waitForLoadState('load');
    const summary = page.locator('[role="alert"]').filter({ hasText: 'The key was not created' });
    await summary.waitFor();
    const inSummary = await page
      .waitForFunction(
        () => {
          const el = document.activeElement;
          const box = el && el.closest('[role="alert"]');
          return !!box && /The key was not created/.test(box.textContent);
        },
        null,
        { timeout: 2_000 },
      )
      .then(() => true)
      .catch(() => false);
    assert.ok(inSummary, `after the 422 the error summary should have focus; focus is on ${show(await focused(page))}`);
    const link = summary.locator('a[href="#name"]');
    assert.equal(await link.count(), 1, 'the error summary links to the name field (a[href="#name"])');
    assert.match(await link.innerText(), /Name/, 'the link names the field');
    await link.click();
    assert.ok(await waitForFocus(page, page.locator('#name')), `the link should focus #name; focus is on ${show(await focused(page))}`);
    await owner.expectNoProblems();
  });

  it('D8. The custom-date error names the last allowed day in words, not a format', async () => {
    owner.allowStatus(422, '/settings/api-keys');
    await page.goto(owner.url('/settings/api-keys/new'));
    await typeIntoLabelled(page, 'name', 'Date probe');
    await tickPermission(page, 'records:read');
    await chooseExpiry(page, 'custom');
    const max = await page.locator('#expiry_date').getAttribute('max');
    const lastDay = dayInWords(max);
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/settings/api-keys') && r.request().method() === 'POST'),
      page.getByRole('button', { name: 'Create key' }).click(),
    ]);
    assert.equal(response.status(), 422, 'a custom expiry without a date is refused with 422');
    await page.waitForLoadState('load');
    const message = (await page.locator('#expiry-error').innerText()).trim();
    assert.doesNotMatch(message, /YYYY-MM-DD/, `the expiry error should not ask for a format: "${message}"`);
    assert.ok(message.includes(lastDay), `the expiry error should name the last allowed day "${lastDay}": "${message}"`);
    await owner.expectNoProblems();
  });

  it('D9. The only owner cannot be demoted or removed; with a second owner they can', async () => {
    await page.goto(owner.url('/settings/members'));
    if ((await memberRow(page, VIEWER.email).count()) === 0) {
      await addViewer(owner, VIEWER.email, VIEWER.password);
      await page.goto(owner.url('/settings/members'));
    }
    const changeName = `Change role of ${OWNER.email}`;
    const removeName = `Remove ${OWNER.email}`;
    const ownerRow = memberRow(page, OWNER.email);
    await openRowMenu(ownerRow);
    assert.equal(await page.getByRole('link', { name: changeName, exact: true }).count(), 0, 'the only owner\'s row should not offer "Change role"');
    assert.equal(await page.getByRole('link', { name: removeName, exact: true }).count(), 0, 'the only owner\'s row should not offer "Remove"');
    assert.match(await ownerRow.innerText(), /Only owner/, 'the only owner\'s row says "Only owner"');

    await openMemberAction(page, VIEWER.email, 'Change role');
    const dialog = page.locator('dialog[open]');
    await dialog.waitFor();
    await dialog.locator('input[type="radio"][value="owner"]').check();
    await navigating(page, () => dialog.getByRole('button', { name: 'Change role' }).click());
    assert.match(await cell(memberRow(page, VIEWER.email), 'Role').innerText(), /Owner/, `${VIEWER.email} is now an Owner`);

    await openRowMenu(memberRow(page, OWNER.email));
    assert.equal(await page.getByRole('link', { name: changeName, exact: true }).count(), 1, 'with two owners the first owner\'s row offers "Change role"');
    assert.equal(await page.getByRole('link', { name: removeName, exact: true }).count(), 1, 'with two owners the first owner\'s row offers "Remove"');
    await owner.expectNoProblems();
  });
});
