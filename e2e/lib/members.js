// Adding a viewer to the owner's workspace through Settings → Members.
import assert from 'node:assert/strict';

import { typeIntoLabelled } from './console.js';

/** The owner adds `email` as a viewer with an initial password, as a person would. */
export async function addViewer(owner, email, password) {
  const { page } = owner;
  await page.goto(owner.url('/settings/api-keys'));
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Members' }).click();
  await page.waitForURL('**/settings/members');
  await typeIntoLabelled(page, 'email', email);
  await typeIntoLabelled(page, 'password', password);
  await page.locator('label[for="role-viewer"]').click();
  assert.equal(await page.locator('#role-viewer').isChecked(), true, 'the Viewer role is chosen');
  await page.getByRole('button', { name: 'Add member' }).click();
  await page.waitForLoadState();
  const row = page.locator('tr', { hasText: email });
  assert.equal(await row.count(), 1, `the members table lists ${email}`);
  assert.match(await row.innerText(), /Viewer/);
}
