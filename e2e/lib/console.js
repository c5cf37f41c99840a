// What a person does in the console, with mouse and keyboard, written against the UI contract
// (BRIEF.md, "UI contract for the API-keys console").
import assert from 'node:assert/strict';

export const OWNER = { email: 'owner@example.com', password: 'correct horse battery staple', workspace: 'Acme' };

/** Clicks the label, then types: the way a person fills a field. */
export async function typeInto(page, label, text, { exact = true } = {}) {
  const field = page.getByLabel(label, { exact });
  await field.click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Backspace');
  await page.keyboard.type(text);
  return field;
}

/** Clicks `label[for=ID]` (so the label must exist and point at the field), then types. */
export async function typeIntoLabelled(page, id, text) {
  await page.locator(`label[for="${id}"]`).click();
  const field = page.locator(`#${id}`);
  assert.equal(await field.evaluate((el) => el === document.activeElement), true, `clicking label[for=${id}] should focus #${id}`);
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Backspace');
  await page.keyboard.type(text);
  return field;
}

/** First-run setup through the form; returns on the page the form leads to. */
export async function setupOwner(session, owner = OWNER) {
  const { page } = session;
  await page.goto(session.url('/'));
  assert.match(new URL(page.url()).pathname, /^\/setup$/, 'a fresh install should lead to /setup');
  await typeInto(page, 'Setup code', session.server.setupCode);
  await typeInto(page, 'Email', owner.email);
  await typeInto(page, 'Password', owner.password);
  await typeInto(page, 'Password again', owner.password);
  await typeInto(page, 'Workspace name', owner.workspace);
  await Promise.all([page.waitForURL('**/settings/api-keys'), page.getByRole('button', { name: 'Create workspace and sign in' }).click()]);
}

export async function signIn(session, email, password) {
  const { page } = session;
  await page.goto(session.url('/login'));
  await typeInto(page, 'Email', email);
  await typeInto(page, 'Password', password);
  await page.keyboard.press('Enter');
  await page.waitForURL((u) => !u.pathname.startsWith('/login'));
}

/** The key table's row for a key name (exactly one expected). */
export function keyRow(page, name) {
  return page.locator('table.keys-table tr[data-key-id]').filter({
    has: page.locator('td[data-label="Name"]', { hasText: name }),
  });
}

export function cell(row, label) {
  return row.locator(`td[data-label="${label}"]`);
}

/** Checks a permission by clicking its label (`records:read` → label[for=perm-records-read]). */
export async function tickPermission(page, scope) {
  const id = `perm-${scope.replace(/:/g, '-')}`;
  await page.locator(`label[for="${id}"]`).click();
  assert.equal(await page.locator(`#${id}`).isChecked(), true, `clicking the label of ${scope} should tick it`);
}

/** Chooses an expiry (`7`, `30`, …, `custom`, `never`) in the expiry select. */
export async function chooseExpiry(page, choice) {
  const select = page.locator('select#expiry');
  if (await select.count()) {
    await select.selectOption(choice);
    assert.equal(await select.inputValue(), choice, `the expiry select should hold ${choice}`);
    return;
  }
  await page.locator(`label[for="expiry-${choice}"]`).click();
  assert.equal(await page.locator(`#expiry-${choice}`).isChecked(), true, `clicking the label of expiry ${choice} should choose it`);
}

/** Fills the date field with the keyboard (`YYYY-MM-DD`). */
export async function typeDate(page, isoDate) {
  const field = page.locator('#expiry_date');
  await field.fill(isoDate);
}

/** ISO date `days` from today (UTC). */
export function isoDateInDays(days) {
  return new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
}

/**
 * From the key table: "Create API key" → fill the form → "Create key" → the reveal page.
 * Returns the secret shown on the reveal page.
 */
export async function createKey(session, { name, permissions = [], fullAccess = false, expiry = '30', date, rateLimit }) {
  const { page } = session;
  if (new URL(page.url()).pathname !== '/settings/api-keys') await page.goto(session.url('/settings/api-keys'));
  await page.getByRole('link', { name: 'Create API key' }).first().click();
  await page.waitForURL('**/settings/api-keys/new');
  await typeIntoLabelled(page, 'name', name);
  for (const scope of permissions) await tickPermission(page, scope);
  if (fullAccess) await page.locator('label[for="full_access"]').click();
  await chooseExpiry(page, expiry);
  if (date) await typeDate(page, date);
  if (rateLimit !== undefined) {
    await page.locator('#rate_limit_per_minute').fill(String(rateLimit));
  }
  await Promise.all([
    page.waitForURL(/\/settings\/api-keys\/\d+\/reveal$/),
    page.getByRole('button', { name: 'Create key' }).click(),
  ]);
  const secret = await page.locator('#secret-key').inputValue();
  assert.match(secret, /^kw_live_[0-9A-Za-z]{38}$/, 'the reveal page should show a full kw_live_ key');
  const id = Number(new URL(page.url()).pathname.split('/')[3]);
  return { secret, id };
}

/** `kw_live_…ABCD` for a full key. */
export function masked(secret) {
  return `kw_live_\u2026${secret.slice(-4)}`;
}

/**
 * Opens a row's actions menu (the "⋯" disclosure of a key or member row) when it is closed.
 * `row` is the table row locator.
 */
export async function openRowMenu(row) {
  const menu = row.locator('details.row-menu');
  if ((await menu.count()) && !(await menu.evaluate((d) => d.open))) {
    await menu.locator('summary').click();
  }
}

/** Opens a row action (History/Regenerate/Revoke/Delete) from the row's menu, as a dialog
 * when JS runs. */
export async function openRowAction(page, keyName, action) {
  await openRowMenu(keyRow(page, keyName));
  const link = page.getByRole('link', { name: `${action} key ${keyName}`, exact: true });
  await link.click();
}

/** The member table's row for an email. */
export function memberRow(page, email) {
  return page.locator('table.members-table tr[data-member-id]').filter({
    has: page.locator('td[data-label="Email"]', { hasText: email }),
  });
}

/** Opens a member action ("Change role" or "Remove") from the member's row menu. */
export async function openMemberAction(page, email, action) {
  await openRowMenu(memberRow(page, email));
  const name = action === 'Remove' ? `Remove ${email}` : `Change role of ${email}`;
  await page.getByRole('link', { name, exact: true }).click();
}

/** Reloads the key table until `check()` holds, for at most `ms`. */
export async function pollTable(page, check, ms = 6_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await page.waitForTimeout(500);
    await page.reload();
  }
}
