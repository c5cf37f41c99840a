// Adding a viewer to the owner's workspace.
import { addMemberDirectly } from './db.js';

/**
 * Adds `email` as a viewer. Through the Members page when the console has one; otherwise the
 * server is stopped, the row written with python3's sqlite3 (same password as the owner) and
 * the server started again.
 */
export async function addViewer(server, owner, email) {
  await server.stop();
  addMemberDirectly(server.dbPath, email, 'viewer');
  await server.start();
  return 'database';
}
