//! The two database backends and a database per test: `both_backends!`, the PostgreSQL server
//! named by `KEYWARD_TEST_POSTGRES_URL`, and [`TestDb`] (a temporary SQLite file, or a fresh
//! PostgreSQL database dropped afterwards).

use std::io::Write;
use std::sync::Once;

use keyward::config::DatabaseUrl;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs one async test body against both backends. `both_backends!{ name1, name2 }` expands to
/// `sqlite::name1`, `postgres::name1`, … each calling `name1(Backend)`. The PostgreSQL ones do
/// nothing when no server is configured, unless `CI` is set: then they fail.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if $crate::helpers::postgres_admin_url().is_some() {
                        super::$name($crate::helpers::Backend::Postgres).await
                    }
                }
            )*
        }
    };
}

static SKIP_NOTICE: Once = Once::new();

/// The server to create test databases on, from `KEYWARD_TEST_POSTGRES_URL`. When unset, says
/// so once, on stderr directly (so the test harness does not swallow it), and the PostgreSQL
/// tests are skipped; but with `CI` set (non-empty) it panics, so a CI run cannot pass
/// without them.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("KEYWARD_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) => panic!(
            "CI is set but KEYWARD_TEST_POSTGRES_URL is not: the PostgreSQL tests cannot run. Set it \
             to a server where the tests may create and drop databases, e.g. \
             postgres://postgres@127.0.0.1:5432/test"
        ),
        _ => {
            SKIP_NOTICE.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "NOTE: KEYWARD_TEST_POSTGRES_URL is not set: PostgreSQL tests were skipped (SQLite only)."
                );
            });
            None
        }
    }
}

/// A database that exists for one test.
pub enum TestDb {
    Sqlite(tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    pub fn create(backend: Backend) -> (Self, DatabaseUrl) {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("keyward.db");
                (TestDb::Sqlite(dir), DatabaseUrl::Sqlite(path))
            }
            Backend::Postgres => {
                use diesel::{Connection, PgConnection, RunQueryDsl};
                let admin_url = postgres_admin_url().expect("KEYWARD_TEST_POSTGRES_URL");
                let name = format!("keyward_test_{}", uuid_like());
                let mut conn =
                    PgConnection::establish(&admin_url).expect("connect to the test PostgreSQL server");
                diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
                    .execute(&mut conn)
                    .expect("create test database");
                let mut url = url::Url::parse(&admin_url).expect("KEYWARD_TEST_POSTGRES_URL is a URL");
                url.set_path(&name);
                (TestDb::Postgres { admin_url, name }, DatabaseUrl::Postgres(url.to_string()))
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { admin_url, name } = self {
            use diesel::{Connection, PgConnection, RunQueryDsl};
            if let Ok(mut conn) = PgConnection::establish(admin_url) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut conn);
            }
        }
    }
}

fn uuid_like() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..16).map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.random_range(0..36)])).collect()
}
