//! The test harness: every test gets its own server on a random port and its own database
//! (a temporary SQLite file, or a fresh PostgreSQL database dropped afterwards).
// Not every test module uses every helper.
#![allow(dead_code)]

use std::io::Write;
use std::sync::Once;

use actix_web::dev::ServerHandle;
use actix_web::web;
use keyward::config::{DatabaseUrl, Settings};
use keyward::startup::Application;
use keyward::state::AppState;
use reqwest::{Response, StatusCode};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs one async test body against both backends. `both_backends!{ name1, name2 }` expands to
/// `sqlite::name1`, `postgres::name1`, … each calling `name1(Backend)`.
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
/// so once, on stderr directly (so the test harness does not swallow it).
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("KEYWARD_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
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

/// A running keyward and a browser-like client (cookie jar, no automatic redirects).
pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub backend: Backend,
    pub client: reqwest::Client,
    pub state: web::Data<AppState>,
    pub database_url: DatabaseUrl,
    handle: ServerHandle,
    /// The server task; `stop` waits for it, so shutdown work (the usage flush) is done.
    run: tokio::sync::Mutex<Option<tokio::task::JoinHandle<std::io::Result<()>>>>,
    // Dropped last: the server must stop using the database before it is removed.
    _db: TestDb,
}

/// Test settings: a random port, one worker, signals left to the test runner.
pub fn test_settings(database_url: DatabaseUrl) -> Settings {
    let mut s = Settings::new(database_url);
    s.bind = "127.0.0.1:0".into();
    s.workers = 1;
    s.pool_size = 4;
    s.handle_signals = false;
    s
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let (db, url) = TestDb::create(backend);
    let mut settings = test_settings(url.clone());
    tweak(&mut settings);
    let app = Application::build(settings).await.expect("the app starts");
    let port = app.port();
    let handle = app.handle();
    let state = app.state();
    let run = tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        backend,
        client: new_client(),
        state,
        database_url: url,
        handle,
        run: tokio::sync::Mutex::new(Some(run)),
        _db: db,
    }
}

/// A client like a browser: keeps cookies, does not follow redirects (tests assert them).
pub fn new_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .expect("client")
}

pub const OWNER_EMAIL: &str = "owner@example.com";
pub const OWNER_PASSWORD: &str = "correct horse battery staple";

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.expect("request")
    }

    pub async fn get_text(&self, path: &str) -> String {
        self.get(path).await.text().await.expect("body")
    }

    /// POSTs a form as-is (the caller supplies any CSRF token).
    pub async fn post_form_raw(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.client.post(self.url(path)).form(form).send().await.expect("request")
    }

    /// POSTs a form with the CSRF token taken from `form_page` (the page holding the form).
    pub async fn post_form(&self, form_page: &str, action: &str, form: &[(&str, &str)]) -> Response {
        let token = self.csrf_token(form_page).await;
        let mut fields: Vec<(&str, &str)> = vec![("csrf_token", token.as_str())];
        fields.extend_from_slice(form);
        self.post_form_raw(action, &fields).await
    }

    /// The CSRF token in the first form of a page.
    pub async fn csrf_token(&self, page: &str) -> String {
        let html = self.get_text(page).await;
        extract_csrf(&html).unwrap_or_else(|| panic!("no csrf_token on {page}:\n{html}"))
    }

    /// Completes first-run setup as the owner; the client is signed in afterwards.
    pub async fn setup_owner(&self) {
        let res = self
            .post_form(
                "/setup",
                "/setup",
                &[
                    ("email", OWNER_EMAIL),
                    ("password", OWNER_PASSWORD),
                    ("password_confirm", OWNER_PASSWORD),
                    ("workspace_name", "Acme"),
                ],
            )
            .await;
        assert_is_redirect_to(&res, "/settings/api-keys");
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> Response {
        self.post_form("/login", "/login", &[("email", email), ("password", password)]).await
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(&self) {
        self.handle.stop(true).await;
        if let Some(run) = self.run.lock().await.take() {
            let _ = run.await;
        }
    }
}

pub fn extract_csrf(html: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

#[track_caller]
pub fn assert_is_redirect_to(res: &Response, location: &str) {
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "expected a 303 to {location}");
    assert_eq!(res.headers().get("location").and_then(|v| v.to_str().ok()), Some(location));
}
