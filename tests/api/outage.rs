//! Database loss: when PostgreSQL refuses connections or the SQLite file disappears, every
//! answer that needs the database is a 503 (never a 500, never a stale 200), `/readyz` says
//! 503, and service comes back by itself once the database returns, without a restart.

use std::time::{Duration, Instant};

use keyward::config::DatabaseUrl;
use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, spawn_app};

both_backends! {
    readiness_and_console_fail_with_503_while_the_database_is_gone_and_recover_by_themselves,
}

/// Takes a test's database away and gives it back.
pub struct Outage {
    kind: OutageKind,
}

enum OutageKind {
    /// The file is renamed away: new connections find nothing, open ones would follow the inode.
    Sqlite { path: std::path::PathBuf, away: std::path::PathBuf },
    /// Connections are refused and the open ones terminated, as when the server goes down.
    Postgres { admin_url: String, name: String },
}

impl Outage {
    pub fn for_app(app: &TestApp) -> Self {
        let kind = match &app.database_url {
            DatabaseUrl::Sqlite(path) => {
                OutageKind::Sqlite { path: path.clone(), away: path.with_extension("db.away") }
            }
            DatabaseUrl::Postgres(url) => {
                let parsed = url::Url::parse(url).expect("test database URL");
                let name = parsed.path().trim_start_matches('/').to_owned();
                let admin_url = crate::helpers::postgres_admin_url().expect("PostgreSQL admin URL");
                OutageKind::Postgres { admin_url, name }
            }
        };
        Self { kind }
    }

    pub fn begin(&self) {
        match &self.kind {
            OutageKind::Sqlite { path, away } => {
                std::fs::rename(path, away).expect("move the SQLite file away")
            }
            OutageKind::Postgres { admin_url, name } => {
                pg_admin(admin_url, &format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false"));
                pg_admin(
                    admin_url,
                    &format!(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE datname = '{name}' AND pid <> pg_backend_pid()"
                    ),
                );
            }
        }
    }

    pub fn end(&self) {
        match &self.kind {
            OutageKind::Sqlite { path, away } => {
                std::fs::rename(away, path).expect("move the SQLite file back")
            }
            OutageKind::Postgres { admin_url, name } => {
                pg_admin(admin_url, &format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"));
            }
        }
    }
}

fn pg_admin(admin_url: &str, sql: &str) {
    use diesel::{Connection, PgConnection, RunQueryDsl};
    let mut conn = PgConnection::establish(admin_url).expect("connect to the PostgreSQL server");
    diesel::sql_query(sql).execute(&mut conn).unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Polls `path` until it answers `status`, for at most `limit`; returns how long it took.
pub async fn wait_for_status(app: &TestApp, path: &str, status: StatusCode, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let res = app.client.get(app.url(path)).send().await.expect("request");
        if res.status() == status {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "{path} did not answer {status} within {limit:?} (last: {})",
            res.status()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn readiness_and_console_fail_with_503_while_the_database_is_gone_and_recover_by_themselves(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    assert_eq!(app.get("/settings/api-keys").await.status(), 200);
    // Warm several pooled connections, so the outage meets open ones too.
    let warm: Vec<_> = (0..4).map(|_| app.get("/settings/api-keys")).collect();
    for res in futures_util::future::join_all(warm).await {
        assert_eq!(res.status(), 200);
    }

    let outage = Outage::for_app(&app);
    outage.begin();

    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 503);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable");
    // Every pooled connection is met in turn: each answer is a 503, none a 500 or a 200.
    for _ in 0..12 {
        let res = app.get("/settings/api-keys").await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(app.get("/readyz").await.status(), 503);
    }
    // Liveness does not depend on the database.
    assert_eq!(app.get("/healthz").await.status(), 200);

    outage.end();
    wait_for_status(&app, "/readyz", StatusCode::OK, Duration::from_secs(15)).await;
    for _ in 0..8 {
        assert_eq!(app.get("/settings/api-keys").await.status(), 200);
    }
    app.stop().await;
}
