// The keyboard path through the key table: Tab reaches "Create API key" with a visible focus
// ring on every stop, and a key's row menu, its Revoke dialog and Escape work without a mouse.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { launchBrowser, openSession } from '../lib/browser.js';
import { cancelControl, focused, hasFocusRing, show, waitForFocus } from '../lib/checks.js';
import { cell, createKey, keyRow, setupOwner } from '../lib/console.js';
import { startKeyward } from '../lib/server.js';

/** Presses `key` until `done(focusInfo)` holds, at most `max` times; returns the stops seen. */
async function pressUntil(page, key, done, max) {
  const stops = [];
  for (let i = 0; i < max; i += 1) {
    await page.keyboard.press(key);
    const info = await focused(page);
    stops.push(info);
    if (done(info)) return { reached: true, stops };
  }
  return { reached: false, stops };
}

const path = (stops) => stops.map(show).join(' → ');

describe('the console by keyboard', () => {
  let server;
  let browser;
  let session;
  let page;
  const name = 'Keyboard key';

  before(async () => {
    server = await startKeyward();
    browser = await launchBrowser();
    session = await openSession(browser, server);
    page = session.page;
    await setupOwner(session);
    await createKey(session, { name, permissions: ['records:read'] });
  });

  after(async () => {
    await session?.close();
    await browser?.close();
    await server?.dispose();
  });

  it('K1. Tab reaches Create API key with focus rings; the row menu and Revoke dialog work by keyboard', async () => {
    await page.goto(session.url('/settings/api-keys'));
    assert.equal((await focused(page)).isBody, true, 'a fresh page load starts with focus on the body');

    const isCreate = (f) => f.tag === 'a' && f.name === 'Create API key' && f.href.endsWith('/settings/api-keys/new');
    const toCreate = await pressUntil(page, 'Tab', isCreate, 20);
    assert.ok(toCreate.reached, `20 Tabs should reach "Create API key"; focus went ${path(toCreate.stops)}`);
    for (const stop of toCreate.stops) {
      assert.ok(hasFocusRing(stop), `${show(stop)} shows no focus ring (outline ${stop.outlineStyle} ${stop.outlineWidth}, box-shadow ${stop.boxShadow})`);
    }

    // On to the key row's actions menu: the table comes after "Create API key", the four
    // workspace figures, the status and environment filters, the search and the bulk bar, and
    // in the row its checkbox and the name's link to the key page.
    const isMenu = (f) => f.isRowMenuSummary && f.name === `Actions for key ${name}`;
    const toMenu = await pressUntil(page, 'Tab', isMenu, 25);
    assert.ok(toMenu.reached, `Tab should reach the row menu "Actions for key ${name}" (details.row-menu > summary); focus went ${path(toMenu.stops)}`);
    assert.ok(hasFocusRing(toMenu.stops.at(-1)), 'the row menu shows a focus ring');
    await page.keyboard.press('Enter');
    assert.equal(await keyRow(page, name).locator('details.row-menu').evaluate((d) => d.open), true, 'Enter opens the row menu');

    const revokeName = `Revoke key ${name}`;
    const toRevoke = await pressUntil(page, 'Tab', (f) => f.tag === 'a' && f.name === revokeName, 6);
    assert.ok(toRevoke.reached, `Tab should reach "${revokeName}" in the open menu; focus went ${path(toRevoke.stops)}`);
    await page.keyboard.press('Enter');
    const dialog = page.locator('dialog[open]');
    await dialog.waitFor();
    assert.ok(await waitForFocus(page, cancelControl(dialog)), `the Revoke dialog opens with focus on Cancel; focus is on ${show(await focused(page))}`);

    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    const opener = page.getByRole('link', { name: revokeName, exact: true, includeHidden: true });
    assert.ok(await waitForFocus(page, opener), `Escape returns focus to "${revokeName}"; focus is on ${show(await focused(page))}`);
    assert.equal((await cell(keyRow(page, name), 'Status').innerText()).trim(), 'Active', 'the key is still Active');
    await session.expectNoProblems();
  });
});
