// Two-factor sign-in as a person sets it up: the secret is read off the enrolment page (as
// someone would type it into an authenticator app), the codes are computed here with node's
// HMAC-SHA-1 (RFC 6238), then sign-out and sign-in with the password and a code.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { expectAccessible } from '../lib/axe.js';
import { launchBrowser, openSession } from '../lib/browser.js';
import { OWNER, setupOwner, typeInto } from '../lib/console.js';
import { startKeyward } from '../lib/server.js';
import { freshStep, totp } from '../lib/totp.js';

describe('two-factor sign-in', () => {
  let server;
  let browser;
  let session;
  let page;
  let secret;

  before(async () => {
    server = await startKeyward();
    browser = await launchBrowser();
    session = await openSession(browser, server);
    page = session.page;
  });

  after(async () => {
    await session?.close();
    await browser?.close();
    await server?.dispose();
  });

  it('the owner sets it up by scanning (here: reading) the key and entering a code', async () => {
    await setupOwner(session);
    await page.goto(session.url('/settings/account/two-factor'));
    await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Set up two-factor sign-in' }).click()]);
    await page.locator('#totp-secret').waitFor();
    assert.equal(await page.getByRole('img', { name: 'QR code for your authenticator app' }).count(), 1, 'an inline QR code');
    secret = (await page.locator('#totp-secret').textContent()).replace(/\s/g, '');
    assert.match(secret, /^[A-Z2-7]{32}$/);
    await expectAccessible(page, 'two-factor set-up');
    await freshStep();
    await typeInto(page, 'Code from the app', totp(secret, -1));
    await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Turn on two-factor sign-in' }).click()]);
    await page.getByRole('heading', { level: 1, name: /save your recovery codes/ }).waitFor();
    const codes = (await page.locator('#recovery-codes').inputValue()).split('\n').filter(Boolean);
    assert.equal(codes.length, 10, 'ten recovery codes');
    await expectAccessible(page, 'recovery codes');
    await session.expectNoProblems();
  });

  it('after signing out, signing in asks for the password and then a code', async () => {
    await Promise.all([page.waitForURL('**/signed-out'), page.getByRole('button', { name: 'Sign out' }).click()]);
    await page.goto(session.url('/login'));
    await typeInto(page, 'Email', OWNER.email);
    await typeInto(page, 'Password', OWNER.password);
    await Promise.all([page.waitForURL('**/login/two-factor'), page.keyboard.press('Enter')]);
    await expectAccessible(page, 'two-factor sign-in step');
    await typeInto(page, 'Authentication code', totp(secret, 0));
    await Promise.all([page.waitForURL('**/settings/api-keys'), page.getByRole('button', { name: 'Verify and sign in' }).click()]);
    await page.getByRole('heading', { level: 1, name: 'API Keys' }).waitFor();
    await session.expectNoProblems();
  });
});
