// Webhooks as an owner uses them: add an endpoint, copy the signing secret shown once, send a
// test event to a receiver this test runs, and see the delivery listed with its answer.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';

import { expectAccessible } from '../lib/axe.js';
import { launchBrowser, openSession } from '../lib/browser.js';
import { OWNER, setupOwner, signIn, typeIntoLabelled } from '../lib/console.js';
import { startKeyward } from '../lib/server.js';

/** A receiver on 127.0.0.1 that checks the Standard Webhooks signature and answers 204. */
function startReceiver() {
  const hits = [];
  let secret = null;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const id = req.headers['webhook-id'];
      const ts = req.headers['webhook-timestamp'];
      const key = Buffer.from((secret || '').replace(/^whsec_/, ''), 'base64');
      const expected = crypto.createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest('base64');
      const verified = (req.headers['webhook-signature'] || '').split(' ').includes(`v1,${expected}`);
      hits.push({ id, verified, body: JSON.parse(body) });
      res.writeHead(204).end();
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        hits,
        url: `http://127.0.0.1:${server.address().port}/hook`,
        setSecret: (s) => (secret = s),
        close: () => new Promise((r) => server.close(r)),
      });
    });
  });
}

describe('webhooks', () => {
  let server;
  let browser;
  let owner;
  let receiver;

  before(async () => {
    receiver = await startReceiver();
    process.env.KEYWARD_WEBHOOK_ALLOW_PRIVATE = 'true';
    try {
      server = await startKeyward();
    } finally {
      delete process.env.KEYWARD_WEBHOOK_ALLOW_PRIVATE;
    }
    browser = await launchBrowser();
    owner = await openSession(browser, server, { clipboard: true });
    await setupOwner(owner);
  });

  after(async () => {
    await owner?.close();
    await browser?.close();
    await server?.dispose();
    await receiver?.close();
  });

  it('the owner adds an endpoint, copies its secret once, and sees a test event delivered', async () => {
    const { page } = owner;
    await page.goto(owner.url('/settings/api-keys'));
    await Promise.all([page.waitForURL('**/settings/webhooks'), page.getByRole('link', { name: 'Webhooks' }).click()]);
    assert.ok(await page.getByText('No endpoints yet').count() > 0, 'an empty list says so');
    await expectAccessible(page, 'the empty webhooks page');
    await Promise.all([page.waitForURL('**/settings/webhooks/new'), page.getByRole('link', { name: 'Add endpoint' }).click()]);
    await expectAccessible(page, 'the endpoint form');
    await typeIntoLabelled(page, 'url', receiver.url);
    await typeIntoLabelled(page, 'description', 'Audit pipeline');
    assert.ok(await page.locator('#events-all').isChecked(), 'all events by default');
    await Promise.all([
      page.waitForURL(/\/settings\/webhooks\/\d+\/secret$/),
      page.getByRole('button', { name: 'Add endpoint' }).click(),
    ]);
    assert.ok(await page.getByText('This secret will not be shown again').count() > 0, 'the one-time warning');
    await expectAccessible(page, 'the signing secret page');
    const shown = await page.locator('#signing-secret').inputValue();
    assert.match(shown, /^whsec_[A-Za-z0-9+/=]{40,}$/);
    await page.locator('button[data-copy-target="signing-secret"]').click();
    await page.locator('.copy-status[role="status"]').filter({ hasText: /\S/ }).first().waitFor();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    assert.equal(copied, shown, 'Copy puts the exact secret on the clipboard');
    receiver.setSecret(copied);
    await page.reload();
    assert.ok(await page.getByText('This secret can no longer be displayed').count() > 0, 'reload: the secret is gone');
    assert.equal((await page.content()).includes(shown), false);

    await Promise.all([page.waitForURL(/\/settings\/webhooks\/\d+$/), page.getByRole('link', { name: /go to the endpoint/i }).click()]);
    await Promise.all([page.waitForLoadState(), page.getByRole('button', { name: 'Send test event' }).click()]);
    assert.ok(await page.getByText('A test event is on its way').count() > 0, 'a flash says it was sent');
    for (let i = 0; i < 100 && receiver.hits.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(receiver.hits.length, 1, 'the receiver got the test event');
    assert.ok(receiver.hits[0].verified, 'its signature verifies with the copied secret');
    assert.equal(receiver.hits[0].body.type, 'webhook.test');
    let row;
    for (let i = 0; i < 50; i++) {
      await page.reload();
      row = page.locator('table.deliveries-table tbody tr').first();
      if ((await row.getAttribute('data-status')) === 'succeeded') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(await row.innerText(), /webhook\.test[\s\S]*Succeeded[\s\S]*204/);
    assert.ok((await row.innerText()).includes(receiver.hits[0].id), 'the row shows the webhook-id');
    await expectAccessible(page, 'the endpoint page with a delivery');

    await Promise.all([page.waitForLoadState(), row.getByRole('button', { name: /Redeliver/ }).click()]);
    for (let i = 0; i < 100 && receiver.hits.length < 2; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(receiver.hits[1]?.id, receiver.hits[0].id, 'a redelivery carries the same webhook-id');

    await page.goto(owner.url('/settings/webhooks'));
    const listed = page.locator('table.webhooks-table tbody tr');
    assert.equal(await listed.count(), 1);
    assert.match(await listed.innerText(), /Audit pipeline[\s\S]*All events[\s\S]*Active/);
    await expectAccessible(page, 'the webhooks list');
    await owner.expectNoProblems();
  });

  it('without JavaScript: add an endpoint, read its secret, send a test event, disable and delete it', async () => {
    const plain = await openSession(browser, server, { javaScriptEnabled: false });
    try {
      await signIn(plain, OWNER.email, OWNER.password);
      const { page } = plain;
      await page.goto(plain.url('/settings/webhooks/new'));
      await typeIntoLabelled(page, 'url', receiver.url.replace('/hook', '/plain'));
      await page.locator('label[for="events-all"]').click();
      await page.locator('label[for="event-key.revoked"]').click();
      await Promise.all([page.waitForURL(/\/secret$/), page.getByRole('button', { name: 'Add endpoint' }).click()]);
      const secret = await page.locator('#signing-secret').inputValue();
      assert.match(secret, /^whsec_/);
      receiver.setSecret(secret);
      const before = receiver.hits.length;
      await Promise.all([page.waitForURL(/\/settings\/webhooks\/\d+$/), page.getByRole('link', { name: /go to the endpoint/i }).click()]);
      assert.match(await page.locator('main').innerText(), /key\.revoked/);
      await Promise.all([page.waitForLoadState(), page.getByRole('button', { name: 'Send test event' }).click()]);
      for (let i = 0; i < 100 && receiver.hits.length === before; i++) await new Promise((r) => setTimeout(r, 100));
      assert.ok(receiver.hits[before]?.verified, 'the test event arrived, signed');
      await Promise.all([page.waitForLoadState(), page.getByRole('button', { name: 'Disable' }).click()]);
      assert.match(await page.locator('[data-endpoint-status]').innerText(), /Disabled/);
      await Promise.all([page.waitForURL(/\/delete$/), page.getByRole('link', { name: 'Delete' }).click()]);
      await Promise.all([page.waitForURL('**/settings/webhooks'), page.getByRole('button', { name: 'Delete endpoint' }).click()]);
      assert.ok(await page.getByText(/Deleted the endpoint/).count() > 0);
      await plain.expectNoProblems();
    } finally {
      await plain.close();
    }
  });
});
