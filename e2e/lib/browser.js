// Headless Debian Chromium through playwright-core (no downloaded browser), one fresh
// profile per launch, and a watch on every page for console errors, uncaught exceptions and
// Content-Security-Policy violations.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const artifactsDir = path.resolve(here, '..', 'artifacts');

export const DESKTOP = { width: 1440, height: 900 };
export const PHONE = { width: 375, height: 812 };

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
];

/** Launches Chromium; Playwright gives each launch a fresh temporary user-data dir. */
export async function launchBrowser() {
  const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
  if (!fs.existsSync(executablePath)) {
    throw new Error(`${executablePath} is missing: apt-get install chromium chromium-driver`);
  }
  return chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
}

/**
 * A browser context (its own cookies) on a keyward server, with a problem log.
 * `problems` gathers console errors, page errors and CSP violations from every page of the
 * context; `expectNoProblems()` fails the test when any appeared.
 */
export async function openSession(browser, server, opts = {}) {
  const { viewport = DESKTOP, javaScriptEnabled = true, clipboard = false } = opts;
  const context = await browser.newContext({
    viewport,
    javaScriptEnabled,
    locale: 'en-GB',
    timezoneId: 'UTC',
    colorScheme: 'light',
    reducedMotion: 'reduce',
  });
  context.setDefaultTimeout(10_000);
  if (clipboard) {
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
  }
  const session = new Session(context, server);
  // A `securitypolicyviolation` listener in every document, reporting back to the test.
  await context.exposeBinding('__keywardCspViolation', (_source, v) => {
    session.problems.push(`CSP violation: ${v.directive} blocked ${v.blocked || '(inline)'} on ${v.url}`);
  });
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__keywardCspViolation({
        directive: e.violatedDirective,
        blocked: e.blockedURI,
        url: e.documentURI,
      });
    });
  });
  context.on('page', (page) => session.watch(page));
  session.page = await context.newPage();
  return session;
}

export class Session {
  constructor(context, server) {
    this.context = context;
    this.server = server;
    this.problems = [];
    this.allowed = [];
  }

  /**
   * Console lines matching `re` are expected, e.g. the 422 of a form the test submits with
   * errors on purpose (Chromium logs any 4xx document as "Failed to load resource").
   * The line reads `console error: TEXT [URL]`.
   */
  allow(re) {
    this.allowed.push(re);
  }

  watch(page) {
    page.on('console', (msg) => {
      const text = msg.text();
      const csp = /Content Security Policy|Content-Security-Policy/i.test(text);
      if (msg.type() !== 'error' && !csp) return;
      const where = msg.location()?.url || page.url();
      const line = `console ${msg.type()}${csp ? ' (CSP)' : ''}: ${text} [${where}]`;
      if (this.allowed.some((re) => re.test(line))) return;
      this.problems.push(line);
    });
    page.on('pageerror', (err) => this.problems.push(`page error: ${err.message} [${page.url()}]`));
  }

  /** Expects exactly one kind of HTTP error status for one path. */
  allowStatus(status, pathname) {
    const escaped = pathname.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    this.allow(new RegExp(`status of ${status} .*\\[https?://[^/]+${escaped}\\]$`));
  }

  /** Absolute URL on the server. */
  url(p) {
    return `${this.server.url}${p}`;
  }

  /** Waits for the pages to go quiet (late requests such as icons), then fails on any problem
   * seen since the last call. Allowances end here too. */
  async expectNoProblems() {
    for (const page of this.context.pages()) {
      await page.waitForLoadState('networkidle', { timeout: 3_000 }).catch(() => {});
    }
    this.allowed = [];
    if (this.problems.length) {
      const list = this.problems.map((p) => `  - ${p}`).join('\n');
      this.problems = [];
      throw new Error(`the browser reported problems:\n${list}`);
    }
  }

  async close() {
    await this.context.close();
  }
}

/** Saves a full-page PNG under e2e/artifacts/ and returns its path. */
export async function screenshot(page, name) {
  fs.mkdirSync(artifactsDir, { recursive: true });
  const file = path.join(artifactsDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true, animations: 'disabled', caret: 'hide' });
  return file;
}
