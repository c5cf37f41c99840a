// Small probes shared by defects.test.js and keyboard.test.js: what has focus and whether it
// shows a focus ring, waiting for a navigation, the header's workspace control, and dates as
// the console writes them ("1 Dec 2027").
import { typeInto } from './console.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `2027-12-01` → `1 Dec 2027`. */
export function dayInWords(isoDate) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(isoDate || '');
  if (!m) throw new Error(`not a YYYY-MM-DD date: ${isoDate}`);
  return `${Number(m[3])} ${MONTHS[Number(m[2]) - 1]} ${m[1]}`;
}

// Runs in the page (serialised by Playwright, so everything it uses is inside it): a short
// description of `el`, or of the focused element when called without one.
function describeElement(el) {
  const target = el || document.activeElement;
  const accName = (node) => {
    const label = node.getAttribute('aria-label');
    if (label) return label.trim();
    const by = node.getAttribute('aria-labelledby');
    const text = (n) => {
      if (n.nodeType === Node.TEXT_NODE) return n.textContent;
      if (n.nodeType !== Node.ELEMENT_NODE || n.getAttribute('aria-hidden') === 'true') return '';
      return [...n.childNodes].map(text).join('');
    };
    if (by) return by.split(/\s+/).map((id) => (document.getElementById(id) ? text(document.getElementById(id)) : '')).join(' ').replace(/\s+/g, ' ').trim();
    if (node.labels && node.labels.length) return [...node.labels].map(text).join(' ').replace(/\s+/g, ' ').trim();
    return text(node).replace(/\s+/g, ' ').trim();
  };
  if (!target || target === document.body || target === document.documentElement) {
    return { tag: 'body', name: '', text: '', isBody: true };
  }
  const style = getComputedStyle(target);
  return {
    tag: target.tagName.toLowerCase(),
    id: target.id || '',
    className: typeof target.className === 'string' ? target.className : '',
    name: accName(target),
    text: (target.innerText || '').replace(/\s+/g, ' ').trim().slice(0, 80),
    href: target.getAttribute('href') || '',
    isBody: false,
    inDialog: !!target.closest('dialog'),
    isRowMenuSummary: target.matches('details.row-menu > summary'),
    outlineStyle: style.outlineStyle,
    outlineWidth: style.outlineWidth,
    boxShadow: style.boxShadow,
  };
}

/** What has focus now: `{ tag, name, href, outlineStyle, … }`. */
export function focused(page) {
  return page.evaluate(describeElement);
}

/** The same description for the element a locator points at. */
export function describe(locator) {
  return locator.evaluate(describeElement);
}

/** The accessible name of an element (aria-label, aria-labelledby, labels, or its text). */
export async function accessibleName(locator) {
  return (await describe(locator)).name;
}

/** `link "Cancel" (a#x.btn)` — for assertion messages. */
export function show(info) {
  if (!info || info.isBody) return 'the page body (nothing focused)';
  const cls = info.className ? `.${info.className.trim().split(/\s+/).join('.')}` : '';
  return `<${info.tag}${info.id ? `#${info.id}` : ''}${cls}> named "${info.name}"`;
}

/** A visible focus indicator: an outline that is drawn, or a box-shadow. */
export function hasFocusRing(info) {
  const outline = info.outlineStyle && info.outlineStyle !== 'none' && info.outlineWidth && info.outlineWidth !== '0px';
  const shadow = info.boxShadow && info.boxShadow !== 'none';
  return Boolean(outline || shadow);
}

/** Waits up to `ms` for the locator's element to have focus; true when it does. */
export async function waitForFocus(page, locator, ms = 2_000) {
  const handle = await locator.elementHandle({ timeout: ms }).catch(() => null);
  if (!handle) return false;
  return page
    .waitForFunction((el) => el === document.activeElement, handle, { timeout: ms, polling: 'raf' })
    .then(() => true)
    .catch(() => false);
}

/** Does `action` and waits until the main frame has committed a new document and loaded it. */
export async function navigating(page, action) {
  await Promise.all([page.waitForEvent('framenavigated', { predicate: (f) => f === page.mainFrame() }), action()]);
  await page.waitForLoadState('load');
}

/** A "Cancel" control (link or button) inside `scope`. */
export function cancelControl(scope) {
  return scope
    .getByRole('button', { name: 'Cancel', exact: true })
    .or(scope.getByRole('link', { name: 'Cancel', exact: true }))
    .first();
}

// ------------------------------------------------------------ the header's workspace control

/** Which workspace the header says is current (new: the menu's summary; old: the select). */
export async function currentWorkspace(page) {
  const menu = page.locator('header details.workspace-menu');
  if (await menu.count()) return accessibleName(menu.locator(':scope > summary'));
  const select = page.locator('header #workspace-select');
  if (await select.count()) return (await select.locator('option:checked').textContent()).trim();
  return (await page.locator('header .workspace-name').textContent()).trim();
}

/** The control that shows the current workspace: the menu's summary, else the old select. */
export async function workspaceControl(page) {
  const summary = page.locator('header details.workspace-menu > summary');
  if (await summary.count()) return summary;
  return page.locator('header #workspace-select');
}

async function openWorkspaceMenu(page) {
  const menu = page.locator('header details.workspace-menu');
  if ((await menu.count()) && !(await menu.evaluate((d) => d.open))) await menu.locator(':scope > summary').click();
  return menu;
}

/** Header → "New workspace" → name → "Create workspace"; lands in it on /settings/api-keys. */
export async function createWorkspace(page, name) {
  await openWorkspaceMenu(page);
  await page.locator('header').getByRole('link', { name: /New workspace$/ }).click();
  await page.waitForURL('**/workspaces/new');
  await typeInto(page, 'Workspace name', name);
  await Promise.all([page.waitForURL('**/settings/api-keys'), page.getByRole('button', { name: 'Create workspace' }).click()]);
}

/** Makes `name` the current workspace with whichever switcher the header has. */
export async function switchWorkspace(page, name) {
  const menu = await openWorkspaceMenu(page);
  if (await menu.count()) {
    await navigating(page, () => menu.getByRole('button', { name, exact: true }).click());
  } else {
    await navigating(page, () => page.locator('header #workspace-select').selectOption({ label: name }));
  }
}

/**
 * Clicks, with the mouse, on the words `words` where a text inside a `label` in `scope` starts
 * with them (e.g. a role's name in front of its description).
 */
export async function clickLabelWords(page, scope, words) {
  const point = await scope.evaluate((root, w) => {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const text = n.textContent;
      const start = text.length - text.trimStart().length;
      const rest = text.slice(start + w.length);
      if (!text.startsWith(w, start) || /^\w/.test(rest) || !n.parentElement.closest('label')) continue;
      const range = document.createRange();
      range.setStart(n, start);
      range.setEnd(n, start + w.length);
      const rect = range.getBoundingClientRect();
      if (rect.width && rect.height) return { x: rect.x + rect.width / 2, y: rect.y + rect.height / 2 };
    }
    return null;
  }, words);
  if (!point) throw new Error(`no label text starting with "${words}" to click`);
  await page.mouse.click(point.x, point.y);
}
