// Direct edits to a stopped server's SQLite file, for states the console cannot produce in a
// test's lifetime (a key past its expiry). Uses python3's sqlite3 module: no test hooks in
// keyward itself.
import { execFileSync } from 'node:child_process';

function python(dbPath, script, args = []) {
  return execFileSync('python3', ['-c', script, dbPath, ...args.map(String)], { encoding: 'utf8' });
}

/** Moves a key's expiry into the past (`daysAgo` days before now, UTC). */
export function expireKey(dbPath, keyId, daysAgo = 2) {
  const out = python(
    dbPath,
    `
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
with db:
    n = db.execute(
        "UPDATE api_keys SET expires_at = strftime('%Y-%m-%d %H:%M:%f', 'now', ?) WHERE id = ?",
        ('-' + sys.argv[3] + ' days', int(sys.argv[2]))).rowcount
print(n)
`,
    [keyId, daysAgo],
  );
  if (out.trim() !== '1') throw new Error(`expected to expire one key with id ${keyId}, changed ${out.trim()}`);
}

/** Runs a read-only query and returns the rows as arrays. */
export function query(dbPath, sql, params = []) {
  const out = python(
    dbPath,
    `
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(json.dumps(db.execute(sys.argv[2], json.loads(sys.argv[3])).fetchall()))
`,
    [sql, JSON.stringify(params)],
  );
  return JSON.parse(out);
}

