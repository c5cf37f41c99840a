//! Database loss: when PostgreSQL refuses connections or the SQLite file disappears, every
//! answer that needs the database is a 503 (never a 500, never a stale 200), `/readyz` says
//! 503, and service comes back by itself once the database returns, without a restart.

use std::time::{Duration, Instant};

use keyward::config::DatabaseUrl;
use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, postgres_admin_url, spawn_app, spawn_app_with};

both_backends! {
    readiness_and_console_fail_with_503_while_the_database_is_gone_and_recover_by_themselves,
    the_verifier_fails_closed_under_load_and_resumes_by_itself,
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
                let admin_url = postgres_admin_url().expect("PostgreSQL admin URL");
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
        let res = app.client().get_request(path).send().await.expect("request");
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
    let web = app.client();
    assert_eq!(web.get("/readyz").await.status(), 200);
    assert_eq!(web.get("/settings/api-keys").await.status(), 200);
    // Warm several pooled connections, so the outage meets open ones too.
    let warm: Vec<_> = (0..4).map(|_| web.get("/settings/api-keys")).collect();
    for res in futures_util::future::join_all(warm).await {
        assert_eq!(res.status(), 200);
    }

    let outage = Outage::for_app(&app);
    outage.begin();

    let res = web.get("/readyz").await;
    assert_eq!(res.status(), 503);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable");
    // Every pooled connection is met in turn: each answer is a 503, none a 500 or a 200.
    for _ in 0..12 {
        let res = web.get("/settings/api-keys").await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(web.get("/readyz").await.status(), 503);
    }
    // Liveness does not depend on the database.
    assert_eq!(web.get("/healthz").await.status(), 200);

    outage.end();
    wait_for_status(&app, "/readyz", StatusCode::OK, Duration::from_secs(15)).await;
    for _ in 0..8 {
        assert_eq!(web.get("/settings/api-keys").await.status(), 200);
    }
    app.stop().await;
}

/// One verifier answer seen by the load, with when its request started and ended.
struct Seen {
    started: Instant,
    ended: Instant,
    status: u16,
    valid: bool,
    code: String,
}

async fn the_verifier_fails_closed_under_load_and_resumes_by_itself(backend: Backend) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    let app = spawn_app_with(backend, |s| {
        s.workers = 2;
        s.pool_size = 8;
        // High enough that the load never meets the rate limit.
        s.rate_limit.per_minute = 1_000_000_000;
        s.rate_limit.burst_per_second = 1_000_000_000;
    })
    .await;
    let owner = app.new_client();
    owner.setup(&app.setup_code(), "o@example.com", "outage password 1", "Outage").await;
    let key = owner.create_key("under load", &["records:read"], "never").await;

    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..6)
        .map(|n| {
            let (seen, stop, base, secret) =
                (seen.clone(), stop.clone(), app.address.clone(), key.secret.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    // Half JSON verification, half forward-auth.
                    let res = if n % 2 == 0 {
                        client
                            .post(format!("{base}/api/v1/keys/verify"))
                            .json(&serde_json::json!({ "key": secret }))
                            .send()
                            .await
                    } else {
                        client.get(format!("{base}/api/v1/auth")).header("x-api-key", &secret).send().await
                    }
                    .expect("the server answers throughout");
                    let status = res.status().as_u16();
                    let body: serde_json::Value = res.json().await.unwrap_or_default();
                    let valid = status == 200 && (n % 2 == 1 || body["valid"] == true);
                    let code =
                        body["error"]["code"].as_str().or(body["code"].as_str()).unwrap_or("").to_owned();
                    seen.lock().unwrap().push(Seen { started, ended: Instant::now(), status, valid, code });
                }
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(500)).await;
    let outage = Outage::for_app(&app);
    outage.begin();
    wait_for_status(&app, "/readyz", StatusCode::SERVICE_UNAVAILABLE, Duration::from_secs(10)).await;
    let down_confirmed = Instant::now();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let restoring = Instant::now();
    outage.end();
    let recovery = wait_for_status(&app, "/readyz", StatusCode::OK, Duration::from_secs(15)).await;
    let up_confirmed = Instant::now();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.await.unwrap();
    }

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let during: Vec<&Seen> =
        seen.iter().filter(|s| s.started >= down_confirmed && s.ended <= restoring).collect();
    let after: Vec<&Seen> = seen.iter().filter(|s| s.started >= up_confirmed).collect();
    eprintln!(
        "outage ({backend:?}): {} answers during the outage, {} after; back {} ms after the database",
        during.len(),
        after.len(),
        recovery.as_millis()
    );
    assert!(during.len() >= 10, "the load kept going during the outage");
    for s in &during {
        assert!(!s.valid, "a key was accepted while the database was gone");
        assert_eq!((s.status, s.code.as_str()), (503, "unavailable"), "fail closed with 503 unavailable");
    }
    assert!(seen.iter().all(|s| s.status == 200 || s.status == 503), "only 200s and 503s");
    assert!(!after.is_empty() && after.iter().all(|s| s.valid), "service resumed without a restart");
    app.stop().await;
}
