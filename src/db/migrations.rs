//! Embedded migrations, one set per backend, applied at start-up and by `keyward migrate`.

use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::{DbConnection, DbError};

pub(crate) const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// The migration that added `api_keys.search_name` (directory `2026-11-24-000001_key_search`).
pub const KEY_SEARCH: &str = "20261124000001";
/// The migration that added `audit_events.key_search_name` (`2026-11-24-000002_audit_key_search`).
pub const AUDIT_KEY_SEARCH: &str = "20261124000002";

/// Any fixed number, the same in every instance: the PostgreSQL advisory lock taken while migrating.
const MIGRATION_LOCK: i64 = i64::from_be_bytes(*b"\0keyward");

type MigrationError = Box<dyn std::error::Error + Send + Sync>;

/// The migrations one run applied, by version.
#[derive(Debug, Default)]
pub struct Applied(pub Vec<String>);

impl Applied {
    pub fn count(&self) -> usize {
        self.0.len()
    }

    pub fn includes(&self, version: &str) -> bool {
        self.0.iter().any(|v| v == version)
    }
}

/// Applies every pending migration.
///
/// Instances behind a load balancer often start together on an empty database. Unguarded, each
/// sees the same pending migrations and all but the first fail on "already exists". So the
/// migrations run in one transaction that first takes a lock (PostgreSQL: an advisory lock; SQLite:
/// `BEGIN IMMEDIATE`): the others wait, then find nothing pending.
///
/// Data that SQL alone cannot bring up to date (names folded by Rust's rules) is the caller's
/// to fix, by the versions returned.
pub fn run_migrations(conn: &mut DbConnection) -> Result<Applied, DbError> {
    let versions = |done: Vec<diesel::migration::MigrationVersion>| -> Vec<String> {
        done.iter().map(ToString::to_string).collect()
    };
    match conn {
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
    .map(Applied)
    .map_err(|e| DbError::Migration(e.to_string()))
}
