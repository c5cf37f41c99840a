//! Embedded migrations, one set per backend, applied at start-up and by `keyward migrate`.

use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::DbConnection;

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// The migration that added `api_keys.search_name` (directory `2026-11-24-000001_key_search`).
const KEY_SEARCH: &str = "20261124000001";
/// The migration that added `audit_events.key_search_name` (`2026-11-24-000002_audit_key_search`).
const AUDIT_KEY_SEARCH: &str = "20261124000002";

/// Any fixed number, the same in every instance: the PostgreSQL advisory lock taken while migrating.
const MIGRATION_LOCK: i64 = i64::from_be_bytes(*b"\0keyward");

type MigrationError = Box<dyn std::error::Error + Send + Sync>;

/// Applies every pending migration; returns how many ran.
///
/// Instances behind a load balancer often start together on an empty database. Unguarded, each
/// sees the same pending migrations and all but the first fail on "already exists". So the
/// migrations run in one transaction that first takes a lock (PostgreSQL: an advisory lock; SQLite:
/// `BEGIN IMMEDIATE`): the others wait, then find nothing pending.
pub fn run_migrations(conn: &mut DbConnection) -> Result<usize, String> {
    let versions = |done: Vec<diesel::migration::MigrationVersion>| -> Vec<String> {
        done.iter().map(ToString::to_string).collect()
    };
    let applied: Vec<String> = match conn {
        DbConnection::Sqlite(c) => c.immediate_transaction(|c| -> Result<_, MigrationError> {
            Ok(versions(c.run_pending_migrations(SQLITE)?))
        }),
        DbConnection::Postgresql(c) => c.transaction(|c| -> Result<_, MigrationError> {
            diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                .bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK)
                .execute(c)?;
            Ok(versions(c.run_pending_migrations(POSTGRES)?))
        }),
    }
    .map_err(|e| format!("migrations failed: {e}"))?;
    // SQL could only fold existing names with the database's `lower()`; fold them the way
    // new keys are folded. Once, in the run that added the column.
    if applied.iter().any(|v| v == KEY_SEARCH) {
        crate::keys::store::refold_search_names(conn)
            .map_err(|e| format!("migrations failed: folding key names for search: {e}"))?;
    }
    if applied.iter().any(|v| v == AUDIT_KEY_SEARCH) {
        crate::audit::refold_key_search_names(conn)
            .map_err(|e| format!("migrations failed: folding the audit log's key names: {e}"))?;
    }
    Ok(applied.len())
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;

    use super::*;
    use crate::db::schema::{api_keys, audit_events};

    /// A database from before the search column, with a non-ASCII name: after the upgrade the
    /// name is folded as new keys are, which SQLite's ASCII-only `lower()` alone would not do.
    #[test]
    fn upgrading_folds_existing_names_in_rust() {
        let mut conn = DbConnection::Sqlite(SqliteConnection::establish(":memory:").unwrap());
        let DbConnection::Sqlite(c) = &mut conn else { unreachable!() };
        let first = c.run_next_migration(SQLITE).unwrap();
        assert_ne!(first.to_string(), KEY_SEARCH, "the init migration runs first");
        c.batch_execute(
            "INSERT INTO workspaces (name, created_at) VALUES ('W', '2026-01-01 00:00:00'); \
             INSERT INTO api_keys (workspace_id, name, prefix, last4, key_hash, permissions, \
             expiry_rule, created_at) VALUES (1, 'ÄRGER Deploy', 'kw_live_', 'abcd', 'h', '*', \
             'never', '2026-01-01 00:00:00')",
        )
        .unwrap();
        assert!(run_migrations(&mut conn).unwrap() >= 1);
        let folded: String = api_keys::table.select(api_keys::search_name).first(&mut conn).unwrap();
        assert_eq!(folded, "ärger deploy");
    }

    /// The same for the audit log's key names, on a database from before their column.
    #[test]
    fn upgrading_folds_existing_audit_key_names_in_rust() {
        let mut conn = DbConnection::Sqlite(SqliteConnection::establish(":memory:").unwrap());
        let DbConnection::Sqlite(c) = &mut conn else { unreachable!() };
        while c.run_next_migration(SQLITE).unwrap().to_string() != KEY_SEARCH {}
        c.batch_execute(
            "INSERT INTO workspaces (name, created_at) VALUES ('W', '2026-01-01 00:00:00'); \
             INSERT INTO audit_events (workspace_id, at, actor, action, key_id, key_name) VALUES \
             (1, '2026-01-01 00:00:00', 'a', 'key.created', 7, 'ÄRGER Deploy'), \
             (1, '2026-01-01 00:00:00', 'a', 'user.signed_in', NULL, NULL)",
        )
        .unwrap();
        assert!(run_migrations(&mut conn).unwrap() >= 1);
        let folded: Vec<Option<String>> = audit_events::table
            .select(audit_events::key_search_name)
            .order(audit_events::id.asc())
            .load(&mut conn)
            .unwrap();
        assert_eq!(folded, [Some("ärger deploy".to_owned()), None]);
    }
}
