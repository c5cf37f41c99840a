// Workspace policies: an owner sets a 30-day maximum on Settings → Policies; the create form
// then offers nothing longer, and a custom date beyond it is refused beside the field.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { expectAccessible } from '../lib/axe.js';
import { launchBrowser, openSession } from '../lib/browser.js';
import { chooseExpiry, createKey, isoDateInDays, setupOwner, typeDate, typeIntoLabelled } from '../lib/console.js';
import { startKeyward } from '../lib/server.js';

describe('workspace policies', () => {
  let server;
  let browser;
  let owner;

  before(async () => {
    server = await startKeyward();
    browser = await launchBrowser();
    owner = await openSession(browser, server);
    await setupOwner(owner);
  });

  after(async () => {
    await owner?.close();
    await browser?.close();
    await server?.dispose();
  });

  it('an owner sets a 30-day maximum from the navigation', async () => {
    const { page } = owner;
    await page.goto(owner.url('/settings/api-keys'));
    await Promise.all([page.waitForURL('**/settings/policies'), page.getByRole('link', { name: 'Policies' }).click()]);
    await expectAccessible(page, 'the policies page');
    await page.getByLabel('Maximum key lifetime').selectOption('30');
    await Promise.all([
      page.waitForURL('**/settings/policies'),
      page.getByRole('button', { name: 'Save policies' }).click(),
    ]);
    await page.getByText('are saved').waitFor();
    assert.equal(await page.getByLabel('Maximum key lifetime').inputValue(), '30');
    await owner.expectNoProblems();
  });

  it('the create form then offers only what the policy allows', async () => {
    const { page } = owner;
    await page.goto(owner.url('/settings/api-keys/new'));
    const offered = await page.locator('select#expiry option').evaluateAll((os) => os.map((o) => o.value));
    assert.deepEqual(offered, ['7', '30', 'custom'], 'no 60, 90, 180 or never');
    assert.equal(await page.locator('#expiry_date').getAttribute('max'), isoDateInDays(30), 'the date picker ends with the policy');
    assert.match(await page.locator('#expiry-hint').innerText(), /policy: keys expire within 30 days/);
    await expectAccessible(page, 'the create form under a policy');
    await owner.expectNoProblems();
  });

  it('a custom date beyond the maximum is refused beside the field, keeping the input', async () => {
    const { page } = owner;
    owner.allowStatus(422, '/settings/api-keys');
    await page.goto(owner.url('/settings/api-keys/new'));
    await typeIntoLabelled(page, 'name', 'Quarterly export');
    await page.locator('label[for="perm-records-read"]').click();
    await chooseExpiry(page, 'custom');
    const beyond = isoDateInDays(45);
    await typeDate(page, beyond);
    await page.getByRole('button', { name: 'Create key' }).click();
    const error = page.locator('#expiry-error');
    await error.waitFor();
    assert.match(await error.innerText(), /policy allows keys to live at most 30 days/);
    assert.equal(await page.locator('#name').inputValue(), 'Quarterly export', 'the name is kept');
    assert.equal(await page.locator('#expiry_date').inputValue(), beyond, 'the date is kept');
    assert.equal(await page.locator('#expiry').getAttribute('aria-invalid'), 'true');
    await expectAccessible(page, 'the create form refused by the policy');
    await owner.expectNoProblems();
    // Within the maximum it is made.
    await page.goto(owner.url('/settings/api-keys'));
    await createKey(owner, { name: 'Quarterly export', permissions: ['records:read'], expiry: 'custom', date: isoDateInDays(30) });
    await owner.expectNoProblems();
  });
});
