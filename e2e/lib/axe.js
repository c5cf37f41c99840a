// Runs axe-core inside the page (injected with page.evaluate, which the page's CSP does not
// govern) and fails on any violation of impact serious or critical.
import fs from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const BLOCKING = new Set(['serious', 'critical']);

/** Returns the violations axe finds on the page as it stands. */
export async function axeViolations(page) {
  await page.evaluate(axeSource);
  return page.evaluate(async () => {
    const result = await window.axe.run(document, {
      resultTypes: ['violations'],
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] },
    });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      helpUrl: v.helpUrl,
      nodes: v.nodes.map((n) => ({ target: n.target.join(' '), summary: n.failureSummary, html: n.html })),
    }));
  });
}

/** Human-readable list of violations. */
export function formatViolations(violations) {
  return violations
    .map((v) => {
      const nodes = v.nodes
        .slice(0, 5)
        .map((n) => `      at ${n.target}\n        ${n.html.slice(0, 160)}\n        ${(n.summary || '').replace(/\n/g, '\n        ')}`)
        .join('\n');
      const more = v.nodes.length > 5 ? `\n      … and ${v.nodes.length - 5} more` : '';
      return `  [${v.impact}] ${v.id}: ${v.help}\n    ${v.helpUrl}\n${nodes}${more}`;
    })
    .join('\n');
}

/** Fails when axe finds a serious or critical violation; prints the minor ones as notes. */
export async function expectAccessible(page, label) {
  const violations = await axeViolations(page);
  const blocking = violations.filter((v) => BLOCKING.has(v.impact));
  const minor = violations.filter((v) => !BLOCKING.has(v.impact));
  if (minor.length) {
    console.log(`# axe notes for ${label} (moderate/minor, not failing):\n${formatViolations(minor).replace(/^/gm, '# ')}`);
  }
  if (blocking.length) {
    throw new Error(`axe: ${blocking.length} serious/critical violation(s) on ${label} (${page.url()}):\n${formatViolations(blocking)}`);
  }
}
