// An account from start to a second factor, as people do it: the owner invites a colleague,
// the colleague opens the copied link in their own browser and chooses a password, sets up
// two-factor sign-in (the code computed here from the secret read off the enrolment page), and
// from then on signs in with the password and a code, landing in the workspace they joined.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { launchBrowser, openSession } from '../lib/browser.js';
import { setupOwner, typeInto } from '../lib/console.js';
import { invite } from '../lib/members.js';
import { startKeyward } from '../lib/server.js';
import { freshStep, totp } from '../lib/totp.js';

const COLLEAGUE = { email: 'dev@example.com', password: 'a passphrase of my own' };

describe('invite, accept, sign in with two-factor', () => {
  let server;
  let browser;
  let owner;
  let colleague;
  let secret;

  before(async () => {
    server = await startKeyward();
    browser = await launchBrowser();
    owner = await openSession(browser, server);
    colleague = await openSession(browser, server);
  });

  after(async () => {
    for (const s of [owner, colleague]) await s?.close();
    await browser?.close();
    await server?.dispose();
  });

  it('the colleague accepts the invitation with a password of their own', async () => {
    await setupOwner(owner);
    const link = await invite(owner, COLLEAGUE.email, 'admin');
    const { page } = colleague;
    await page.goto(link);
    await page.getByText('Acme').first().waitFor();
    // A common password is refused beside the field; nothing is created.
    colleague.allowStatus(422, new URL(link).pathname);
    await typeInto(page, 'Password', 'qwerty123456');
    await typeInto(page, 'Password again', 'qwerty123456');
    await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: /^Create account and join/ }).click()]);
    assert.match(await page.locator('.field-error').first().innerText(), /most common passwords/);
    await typeInto(page, 'Password', COLLEAGUE.password);
    await typeInto(page, 'Password again', COLLEAGUE.password);
    await Promise.all([page.waitForURL('**/settings/api-keys'), page.getByRole('button', { name: /^Create account and join/ }).click()]);
    assert.match(await page.locator('.role-badge').innerText(), /Admin/, 'they joined as the role they were invited with');
    await colleague.expectNoProblems();
  });

  it('they set up two-factor sign-in from their account page', async () => {
    const { page } = colleague;
    await page.getByRole('link', { name: /Your account/ }).click();
    await page.waitForURL('**/settings/account');
    await Promise.all([page.waitForURL('**/settings/account/two-factor'), page.getByRole('link', { name: 'Set up two-factor sign-in' }).click()]);
    await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Set up two-factor sign-in' }).click()]);
    secret = (await page.locator('#totp-secret').textContent()).replace(/\s/g, '');
    assert.match(secret, /^[A-Z2-7]{32}$/);
    await freshStep();
    await typeInto(page, 'Code from the app', totp(secret));
    await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Turn on two-factor sign-in' }).click()]);
    const codes = (await page.locator('#recovery-codes').inputValue()).split('\n').filter(Boolean);
    assert.equal(codes.length, 10);
    await colleague.expectNoProblems();
  });

  it('signing in again asks for the password, then a code, and opens their workspace', async () => {
    const { page } = colleague;
    await Promise.all([page.waitForURL('**/signed-out'), page.getByRole('button', { name: 'Sign out' }).click()]);
    await page.goto(colleague.url('/login'));
    await typeInto(page, 'Email', COLLEAGUE.email);
    await typeInto(page, 'Password', COLLEAGUE.password);
    await Promise.all([page.waitForURL('**/login/two-factor'), page.keyboard.press('Enter')]);
    // The code used to turn it on is spent; the next step's code signs in.
    await freshStep();
    await typeInto(page, 'Authentication code', totp(secret, 1));
    await Promise.all([page.waitForURL('**/settings/api-keys'), page.getByRole('button', { name: 'Verify and sign in' }).click()]);
    assert.match(await page.locator('.workspace-name').innerText(), /Acme/);
    assert.match(await page.locator('.role-badge').innerText(), /Admin/);
    await colleague.expectNoProblems();
  });
});
