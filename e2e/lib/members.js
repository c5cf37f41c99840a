// Adding a viewer to the owner's workspace through Settings → Members: the owner invites, the
// invitee follows the link in a browser of their own and chooses their password.
import assert from 'node:assert/strict';

import { typeInto, typeIntoLabelled } from './console.js';

/** The owner invites `email` as `role` (a value: viewer, admin, owner) through the members
 * page, as a person would, and returns the link the page shows once. */
export async function invite(owner, email, role = 'viewer') {
  const { page } = owner;
  await page.goto(owner.url('/settings/api-keys'));
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Members' }).click();
  await page.waitForURL('**/settings/members');
  await typeIntoLabelled(page, 'email', email);
  await page.locator(`label[for="role-${role}"]`).click();
  assert.equal(await page.locator(`#role-${role}`).isChecked(), true, `the ${role} role is chosen`);
  await Promise.all([
    page.waitForURL(/\/settings\/invitations\/\d+\/link$/),
    page.getByRole('button', { name: 'Send invitation' }).click(),
  ]);
  const link = await page.locator('#invitation-link').inputValue();
  assert.match(link, /\/invitations\/[A-Za-z0-9_-]{43}$/, 'the page shows the invitation link');
  return link;
}

/** In a fresh browser context, opens `link` and creates the invited account with `password`;
 * lands on the key table of the workspace. */
export async function acceptAsNewAccount(owner, link, password) {
  const context = await owner.context.browser().newContext({ locale: 'en-GB', timezoneId: 'UTC' });
  try {
    const page = await context.newPage();
    await page.goto(link);
    await typeInto(page, 'Password', password);
    await typeInto(page, 'Password again', password);
    await Promise.all([
      page.waitForURL('**/settings/api-keys'),
      page.getByRole('button', { name: /^Create account and join/ }).click(),
    ]);
  } finally {
    await context.close();
  }
}

/** The owner invites `email` as a viewer, and the invitee joins with `password`. */
export async function addViewer(owner, email, password) {
  const link = await invite(owner, email, 'viewer');
  await acceptAsNewAccount(owner, link, password);
  const { page } = owner;
  await page.goto(owner.url('/settings/members'));
  const row = page.locator('table.members-table tr', { hasText: email });
  assert.equal(await row.count(), 1, `the members table lists ${email}`);
  assert.match(await row.innerText(), /Viewer/);
}
