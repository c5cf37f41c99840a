// Starts the real keyward binary on a random port with a fresh SQLite file, and stops it.
// One server per test file: each file gets its own temp folder and database.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The binary `cargo build` made: $KEYWARD_BIN, else $CARGO_TARGET_DIR/debug, else target/debug. */
export function keywardBinary() {
  const candidates = [
    process.env.KEYWARD_BIN,
    process.env.CARGO_TARGET_DIR && path.resolve(repoRoot, process.env.CARGO_TARGET_DIR, 'debug', 'keyward'),
    path.join(repoRoot, 'target', 'debug', 'keyward'),
  ].filter(Boolean);
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) {
    throw new Error(`keyward binary not found (looked at ${candidates.join(', ')}); run \`cargo build\` first`);
  }
  return found;
}

// tracing prints `... keyward listening; open the console in a browser port=41234`, perhaps
// with colour codes around the field name.
const ANSI = /\x1b\[[0-9;]*m/g;
const LISTENING = /keyward listening.*\bport=(\d+)/;

/**
 * A keyward process. `start()` launches it (again, on a new random port, same database, after
 * `stop()`); `dbPath` is the SQLite file, safe to edit while the server is stopped.
 */
export class Keyward {
  constructor() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyward-e2e-'));
    this.dbPath = path.join(this.dir, 'keyward.db');
    this.binary = keywardBinary();
    this.child = null;
    this.port = null;
    this.log = '';
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The first-run setup code a fresh server printed in its log (`setup_code=ABCD-…`). */
  get setupCode() {
    const all = [...`${this.previousLogs || ''}${this.log}`.matchAll(/setup_code=([A-Z0-9-]+)/g)];
    if (all.length === 0) throw new Error(`keyward logged no setup code:\n${this.log}`);
    return all[all.length - 1][1];
  }

  async start() {
    if (this.child) throw new Error('keyward is already running');
    const env = {
      ...process.env,
      KEYWARD_BIND: '127.0.0.1:0',
      KEYWARD_DATABASE_URL: `sqlite://${this.dbPath}`,
      KEYWARD_WORKERS: '2',
      RUST_LOG: process.env.KEYWARD_E2E_LOG || 'info',
      NO_COLOR: '1',
    };
    delete env.KEYWARD_SECRET_KEY;
    delete env.KEYWARD_PUBLIC_URL;
    this.previousLogs = (this.previousLogs || '') + this.log;
    this.log = '';
    const child = spawn(this.binary, ['serve'], { cwd: this.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    this.exited = exited;
    const onData = (chunk) => {
      this.log += chunk.toString('utf8').replace(ANSI, '');
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const port = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`keyward did not start within 20 s:\n${this.log}`)), 20_000);
      const check = () => {
        const m = this.log.match(LISTENING);
        if (m) {
          clearTimeout(timer);
          child.stderr.off('data', check);
          resolve(Number(m[1]));
        }
      };
      child.stderr.on('data', check);
      exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`keyward exited (code ${code}, signal ${signal}) before listening:\n${this.log}`));
      });
    });
    this.port = port;
    return this;
  }

  /** SIGTERM and wait: keyward finishes requests in flight and flushes its usage buffer. */
  async stop() {
    const child = this.child;
    if (!child) return;
    this.child = null;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timeout = new Promise((resolve) => setTimeout(() => resolve('timeout'), 15_000));
    if ((await Promise.race([this.exited, timeout])) === 'timeout') {
      child.kill('SIGKILL');
      await this.exited;
      throw new Error('keyward did not stop within 15 s of SIGTERM');
    }
  }

  /** Stops the server and removes its folder. */
  async dispose() {
    try {
      await this.stop();
    } finally {
      if (!process.env.KEYWARD_E2E_KEEP) fs.rmSync(this.dir, { recursive: true, force: true });
    }
  }

  /** Calls the verifier from outside the browser, as a service would. */
  async whoami(key) {
    const res = await fetch(`${this.url}/api/v1/whoami`, { headers: key ? { 'X-Api-Key': key } : {} });
    const text = await res.text();
    let body = null;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    return { status: res.status, body };
  }
}

/** A started server with a fresh database. */
export async function startKeyward() {
  const server = new Keyward();
  await server.start();
  return server;
}
