// A key's own page: what it did (the chart, the figures, the denials by reason, the client
// addresses) and its history, reached from the key table's name link, with JavaScript and
// without, at 1440 and 375 px. Screenshots land in e2e/artifacts/ (key-page-*.png).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { expectAccessible } from '../lib/axe.js';
import { DESKTOP, PHONE, launchBrowser, openSession, screenshot } from '../lib/browser.js';
import { OWNER, createKey, setupOwner, signIn } from '../lib/console.js';
import { startKeyward } from '../lib/server.js';

const SIZES = [
  ['1440', DESKTOP],
  ['375', PHONE],
];
const NAME = 'Usage report';

/** The page never scrolls sideways, and no table is wider than its frame. */
async function expectFits(page, what) {
  const { scrollWidth, innerWidth, clipped } = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    clipped: [...document.querySelectorAll('.table-wrap')]
      .filter((w) => w.scrollWidth > w.clientWidth + 1)
      .map((w) => `${w.scrollWidth} px of table in ${w.clientWidth} px`),
  }));
  assert.ok(scrollWidth <= innerWidth, `${what} scrolls sideways: ${scrollWidth} px of content in ${innerWidth} px`);
  assert.deepEqual(clipped, [], `${what}: a table is wider than its frame`);
}

/** Opens the key's page from the table, by its name. */
async function openKeyPage(session, id) {
  const { page } = session;
  await page.goto(session.url('/settings/api-keys'));
  await page.getByRole('link', { name: NAME, exact: true }).click();
  await page.waitForURL(`**/settings/api-keys/${id}`);
}

describe('a key’s page', () => {
  let server;
  let browser;
  let js;
  let plain;
  let key;

  before(async () => {
    server = await startKeyward();
    browser = await launchBrowser();
    js = await openSession(browser, server);
  });

  after(async () => {
    for (const s of [js, plain]) await s?.close();
    await browser?.close();
    await server?.dispose();
  });

  it('shows the requests the key made, its chart and addresses, axe clean at both sizes', async () => {
    await setupOwner(js);
    key = await createKey(js, { name: NAME, permissions: ['records:read'], expiry: '30' });
    for (let i = 0; i < 4; i++) assert.equal((await server.whoami(key.secret)).status, 200);
    const refused = await fetch(`${server.url}/api/v1/auth`, {
      headers: { 'X-Api-Key': key.secret, 'X-Keyward-Require': 'records:write' },
    });
    assert.equal(refused.status, 403);

    await openKeyPage(js, key.id);
    const { page } = js;
    // Usage is written once a second: the page shows it within a few.
    for (let i = 0; i < 20 && (await page.locator('#total-allowed').innerText()) !== '4'; i++) {
      await page.waitForTimeout(500);
      await page.reload();
    }
    assert.equal(await page.locator('#total-allowed').innerText(), '4');
    assert.equal(await page.locator('#total-denied').innerText(), '1');
    const code = (c) => page.locator(`#denials-by-code tr[data-code="${c}"] td[data-label="Requests"]`).innerText();
    assert.equal((await code('insufficient_permission')).trim(), '1');
    assert.equal((await code('rate_limited')).trim(), '0');
    const chart = page.getByRole('img', { name: /Requests per UTC day/ });
    assert.equal(await chart.count(), 1, 'the chart is an image with a name');
    assert.equal(await chart.locator('rect.chart-allowed').count(), 1, 'one day with allowed requests');
    assert.equal(await chart.locator('rect.chart-denied').count(), 1, 'one day with a refusal');
    assert.deepEqual(await page.locator('#client-addresses .client-ip').allInnerTexts(), ['127.0.0.1']);
    assert.match(await page.locator('.key-history').innerText(), /Key created/);
    // The same figures as a table, behind a disclosure.
    await page.getByText('Every day’s figures').click();
    const today = new Date().toISOString().slice(0, 10);
    assert.equal((await page.locator(`#usage-days tr[data-day="${today}"] td[data-label="Allowed"]`).innerText()).trim(), '4');

    for (const [label, viewport] of SIZES) {
      await page.setViewportSize(viewport);
      await page.reload();
      await page.getByText('Every day’s figures').click();
      await screenshot(page, `key-page-${label}`);
      await expectAccessible(page, `the key page at ${label} px`);
      await expectFits(page, `the key page at ${label} px`);
    }
    await js.expectNoProblems();
  });

  it('works without JavaScript: the figures open, the actions are plain pages', async () => {
    assert.ok(key, 'the first test made the key');
    plain = await openSession(browser, server, { javaScriptEnabled: false });
    await signIn(plain, OWNER.email, OWNER.password);
    await openKeyPage(plain, key.id);
    const { page } = plain;
    await page.locator('details.usage-details summary').click();
    assert.equal(await page.locator('#usage-days').isVisible(), true, 'the details open without JavaScript');
    assert.equal((await page.locator('#usage-days tfoot td[data-label="Allowed"]').innerText()).trim(), '4');
    for (const [label, viewport] of SIZES) {
      await page.setViewportSize(viewport);
      await page.reload();
      await screenshot(page, `key-page-nojs-${label}`);
    }
    await page.getByRole('link', { name: 'Disable', exact: true }).click();
    await page.waitForURL(`**/settings/api-keys/${key.id}/disable`);
    assert.equal(await page.locator('section.panel[data-confirm-panel]').count(), 1, 'a plain confirm page');
    await plain.expectNoProblems();
  });
});
