// Two-factor sign-in as a person sets it up: the secret is read off the enrolment page (as
// someone would type it into an authenticator app), the codes are computed here with node's
// HMAC-SHA-1 (RFC 6238), then sign-out and sign-in with the password and a code.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { expectAccessible } from '../lib/axe.js';
import { launchBrowser, openSession } from '../lib/browser.js';
import { OWNER, setupOwner, typeInto } from '../lib/console.js';
import { startKeyward } from '../lib/server.js';

/** RFC 4648 base32 (no padding) → bytes. */
function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of text.replace(/[\s=]/g, '').toUpperCase()) {
    const idx = alphabet.indexOf(ch);
    if (idx === -1) throw new Error(`not base32: ${ch}`);
    value = (value << 5) | idx;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** The 6-digit TOTP code of the 30-second step `offset` steps from now. */
function totp(secret, offset = 0) {
  const step = Math.floor(Date.now() / 1000 / 30) + offset;
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = crypto.createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const at = mac[mac.length - 1] & 0x0f;
  const number = (mac.readUInt32BE(at) & 0x7fffffff) % 1_000_000;
  return String(number).padStart(6, '0');
}

/** Waits for the next step when the current one ends within `margin` seconds. */
async function freshStep(margin = 10) {
  const left = 30 - (Math.floor(Date.now() / 1000) % 30);
  if (left <= margin) await new Promise((r) => setTimeout(r, left * 1000 + 300));
}

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
