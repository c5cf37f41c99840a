//! The web shell: health, readiness, security headers, fallbacks, migrations, bad starts.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::both_backends;
use crate::helpers::db::usage_in;
use crate::helpers::{
    Backend, Client, OWNER_EMAIL, OWNER_PASSWORD, ServerProcess, TestDb, Verdict, keyward_command,
    postgres_admin_url, spawn_app, test_settings, url_arg,
};

both_backends! {
    healthz_answers_without_touching_the_database,
    readyz_is_200_with_a_database_and_503_when_it_is_gone,
    every_kind_of_response_carries_the_security_headers,
    api_paths_get_json_errors_and_pages_get_html,
    migrations_create_every_table,
    static_assets_are_served_with_long_cache_lifetimes,
    sigint_stops_gracefully_finishing_the_request_in_flight_and_flushing_usage,
    instances_starting_at_once_accept_each_others_cookies,
    instances_starting_at_once_on_a_fresh_database_all_migrate,
}

async fn healthz_answers_without_touching_the_database(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app.client().get("/healthz").await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

async fn readyz_is_200_with_a_database_and_503_when_it_is_gone(backend: Backend) {
    let app = spawn_app(backend).await;
    let web = app.client();
    let res = web.get("/readyz").await;
    assert_eq!(res.status(), 200);

    // Take the database away underneath the running server.
    match &app.database_url {
        keyward::config::DatabaseUrl::Sqlite(path) => std::fs::remove_file(path).unwrap(),
        keyward::config::DatabaseUrl::Postgres(url) => {
            use diesel::{Connection, PgConnection, RunQueryDsl};
            let name = url::Url::parse(url).unwrap().path().trim_start_matches('/').to_owned();
            let admin = postgres_admin_url().unwrap();
            let mut conn = PgConnection::establish(&admin).unwrap();
            diesel::sql_query(format!("DROP DATABASE \"{name}\" WITH (FORCE)")).execute(&mut conn).unwrap();
        }
    }
    let res = web.get("/readyz").await;
    assert_eq!(res.status(), 503);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable");
    // Liveness is not readiness: the process is still fine.
    assert_eq!(web.get("/healthz").await.status(), 200);
}

#[track_caller]
fn assert_security_headers(res: &reqwest::Response) {
    let h = res.headers();
    let csp = h.get("content-security-policy").expect("CSP header").to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(h.get("x-content-type-options").unwrap(), "nosniff");
    assert!(h.get("referrer-policy").is_some());
}

async fn every_kind_of_response_carries_the_security_headers(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in
        ["/healthz", "/setup", "/static/app.css", "/static/app.js", "/no-such-page", "/api/v1/no-such-thing"]
    {
        let res = app.client().get(path).await;
        assert_security_headers(&res);
    }
}

async fn api_paths_get_json_errors_and_pages_get_html(backend: Backend) {
    let app = spawn_app(backend).await;
    let web = app.client();
    let res = web.get("/api/v1/no-such-thing").await;
    assert_eq!(res.status(), 404);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    assert!(body["error"]["message"].as_str().unwrap().len() > 10);

    let res = web.get("/no-such-page").await;
    assert_eq!(res.status(), 404);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(res.text().await.unwrap().contains("Page not found"));
}

async fn migrations_create_every_table(backend: Backend) {
    use diesel::RunQueryDsl;
    let app = spawn_app(backend).await;
    let mut conn = app.state.db.get().unwrap();
    for table in
        ["workspaces", "users", "memberships", "user_sessions", "api_keys", "audit_events", "key_usage_daily"]
    {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let c: Count =
            diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}")).get_result(&mut *conn).unwrap();
        assert_eq!(c.n, 0, "{table}");
    }
}

async fn static_assets_are_served_with_long_cache_lifetimes(backend: Backend) {
    let app = spawn_app(backend).await;
    let web = app.client();
    let res = web.get("/static/app.css").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["cache-control"].to_str().unwrap().contains("max-age=31536000"));
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/css"));
    let res = web.get("/static/nope.js").await;
    assert_eq!(res.status(), 404);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(res.text().await.unwrap().contains("Page not found"));
}

/// SIGINT is as graceful as SIGTERM: the real binary stops accepting, still answers the request
/// in flight, writes the buffered usage and exits 0.
async fn sigint_stops_gracefully_finishing_the_request_in_flight_and_flushing_usage(backend: Backend) {
    let (_db, url) = TestDb::create(backend);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("keyward.log");
    let mut server = ServerProcess::start(&url, &log).await;
    let console = Client::new(&server.base);
    console.setup(&server.setup_code(), OWNER_EMAIL, OWNER_PASSWORD, "Signals").await;
    let key = console.create_key("in flight", &["records:read"], "never").await;
    for _ in 0..3 {
        assert_eq!(console.verify(&key.secret).await, Verdict::Valid);
    }
    drop(console); // its idle keep-alive connections would only delay the stop

    // A verification in flight: the head and half the body are sent when the signal comes.
    let addr = server.base.trim_start_matches("http://").to_owned();
    let body = format!("{{\"key\":\"{}\"}}", key.secret);
    let (first, rest) = body.split_at(body.len() / 2);
    let mut conn = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    // `Expect: 100-continue` makes the server say when a worker holds the request, so the
    // signal comes while a worker serves it, not while the connection may still be waiting to
    // be handed to one (a fixed sleep could not tell on a loaded machine).
    let head = format!(
        "POST /api/v1/keys/verify HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut interim = [0u8; 25];
    conn.read_exact(&mut interim).await.expect("the interim answer");
    assert_eq!(&interim[..], b"HTTP/1.1 100 Continue\r\n\r\n");
    conn.write_all(first.as_bytes()).await.unwrap();
    server.signal("INT");

    // New connections are refused while the request in flight keeps the process alive.
    let asked = Instant::now();
    while tokio::net::TcpStream::connect(&addr).await.is_ok() {
        assert!(asked.elapsed() < Duration::from_secs(5), "still accepting 5 s after SIGINT");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        server.is_running(),
        "SIGINT must not cut the request in flight short; log:\n{}",
        server.log_text()
    );

    conn.write_all(rest.as_bytes()).await.unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.expect("the answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}; log:\n{}", server.log_text());
    assert!(answer.contains("\"valid\":true"), "{answer}");

    assert!(server.wait_exit(), "SIGINT ends the server with status 0");
    let db = keyward::db::Db::connect(&url, 1).expect("connect for checks");
    let (allowed, denied, last_used, _) = usage_in(&db, key.id).await;
    assert_eq!((allowed, denied), (4, 0), "every verification counted, the last one too");
    assert!(last_used.is_some());
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("SIGINT") && log.contains("server stopped"), "{log}");
}

/// Two instances starting at once on one fresh database accept each other's cookies: on
/// SQLite one creates the secret file beside the database and the other reads it back; on
/// PostgreSQL both have the configured secret.
async fn instances_starting_at_once_accept_each_others_cookies(backend: Backend) {
    use crate::helpers::cookies::{cookie_header, session_cookie_of};
    let (_db, url) = TestDb::create(backend);
    let settings = test_settings(url);
    let (a, b) = tokio::join!(
        keyward::startup::Application::build(settings.clone()),
        keyward::startup::Application::build(settings.clone())
    );
    let (a, b) = (a.expect("the first instance starts"), b.expect("the second instance starts"));
    let (base_a, base_b) =
        (format!("http://127.0.0.1:{}", a.port()), format!("http://127.0.0.1:{}", b.port()));
    let code = a.state().setup_code.as_ref().expect("a fresh instance has a setup code").display();
    let (handle_a, handle_b) = (a.handle(), b.handle());
    let runs = [tokio::spawn(a.run_until_stopped()), tokio::spawn(b.run_until_stopped())];

    Client::new(&base_a).setup(&code, OWNER_EMAIL, OWNER_PASSWORD, "Shared").await;
    let on_a = Client::new(&base_a);
    let res = on_a.sign_in(OWNER_EMAIL, OWNER_PASSWORD).await;
    assert_eq!(res.status(), 303);
    let cookie = session_cookie_of(&res).expect("sign-in sets the cookie");
    let on_b = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = on_b
        .get(format!("{base_b}/settings/api-keys"))
        .header("Cookie", cookie_header(&cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "the other instance opens the cookie");

    handle_a.stop(true).await;
    handle_b.stop(true).await;
    for run in runs {
        run.await.unwrap().unwrap();
    }
}

/// Several instances behind a load balancer start together on an empty database: one applies
/// the migrations, the others wait for it and find nothing left to do.
async fn instances_starting_at_once_on_a_fresh_database_all_migrate(backend: Backend) {
    let (_db, url) = TestDb::create(backend);
    let settings = test_settings(url);
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let settings = settings.clone();
            tokio::spawn(async move { keyward::startup::open_database(&settings).await })
        })
        .collect();
    let mut applied = Vec::new();
    for start in starts {
        let (_, n) = start.await.unwrap().unwrap_or_else(|e| panic!("an instance failed to start: {e}"));
        applied.push(n);
    }
    applied.sort_unstable();
    let all = applied[3];
    assert!(all >= 4, "every migration ran once: {applied:?}");
    assert_eq!(applied, [0, 0, 0, all], "exactly one instance migrated");
}

/// Runs the real binary with `args` and the given environment, expecting a quick failure. The
/// log level is the default one, so the single line is what an operator would see. Any free
/// port unless `env` names one: the failure must be the one under test, not a busy 8080.
fn bad_start(env: &[(&str, &str)], args: &[&str]) -> (i32, String) {
    let out = keyward_command()
        .args(args)
        .env_remove("KEYWARD_DATABASE_URL")
        .env_remove("RUST_LOG")
        .env("KEYWARD_BIND", "127.0.0.1:0")
        .envs(env.iter().copied())
        .output()
        .expect("run keyward");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[track_caller]
fn assert_one_plain_line(stderr: &str, mentions: &str) {
    let lines: Vec<_> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got:\n{stderr}");
    assert!(lines[0].starts_with("keyward: "), "{stderr}");
    assert!(lines[0].contains(mentions), "expected `{mentions}` in: {stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{stderr}");
}

#[test]
fn an_unparseable_database_url_fails_with_one_line() {
    let (code, err) = bad_start(&[("KEYWARD_DATABASE_URL", "mysql://nope")], &["serve"]);
    assert_ne!(code, 0);
    assert_one_plain_line(&err, "database URL");
}

#[test]
fn an_unreachable_postgres_fails_with_one_line() {
    let (code, err) = bad_start(&[("KEYWARD_DATABASE_URL", "postgres://nobody@127.0.0.1:1/nothing")], &[]);
    assert_ne!(code, 0);
    assert_one_plain_line(&err, "cannot open the database");
}

#[test]
fn a_postgres_host_that_never_answers_fails_within_seconds_with_one_line() {
    // Connections complete (the kernel accepts them) but nothing ever answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("postgres://nobody@{}/nothing", silent.local_addr().unwrap());
    let started = Instant::now();
    let (code, err) = bad_start(&[("KEYWARD_DATABASE_URL", &url)], &[]);
    assert_ne!(code, 0);
    assert_one_plain_line(&err, "timeout expired");
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
}

#[test]
fn an_unwritable_sqlite_path_fails_with_one_line() {
    let (code, err) = bad_start(&[("KEYWARD_DATABASE_URL", "sqlite:///no/such/folder/k.db")], &[]);
    assert_ne!(code, 0);
    assert_one_plain_line(&err, "/no/such/folder");
}

#[test]
fn a_bad_trusted_proxy_entry_fails_with_one_line_naming_it() {
    // An unusable database as well: were the entry accepted, the start would still fail (on
    // another line) instead of serving forever.
    let no_db = ("KEYWARD_DATABASE_URL", "sqlite:///no/such/folder/k.db");
    let (code, err) = bad_start(&[no_db, ("KEYWARD_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/33")], &[]);
    assert_ne!(code, 0);
    assert_one_plain_line(&err, "KEYWARD_TRUSTED_PROXIES: `10.0.0.0/33`");
    // The flag too.
    let (code, err) = bad_start(&[no_db], &["--trusted-proxies", "proxy.internal"]);
    assert_ne!(code, 0);
    assert_one_plain_line(&err, "`proxy.internal` is not an IP address or CIDR range");
}

#[test]
fn a_port_in_use_fails_with_one_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (_db, url) = TestDb::create(Backend::Sqlite);
    let url = url_arg(&url);
    let (code, err) = bad_start(&[("KEYWARD_DATABASE_URL", &url), ("KEYWARD_BIND", &addr)], &[]);
    assert_ne!(code, 0);
    assert_one_plain_line(&err, &format!("cannot listen on {addr}"));
}

#[test]
fn migrate_applies_migrations_and_help_lists_the_commands() {
    let (_db, url) = TestDb::create(Backend::Sqlite);
    let url = url_arg(&url);
    let out = keyward_command().arg("migrate").env("KEYWARD_DATABASE_URL", &url).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shipped = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().join("up.sql").exists())
        .count();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("migrations applied: {shipped}")), "{stdout}");
    let help = keyward_command().arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    for word in ["serve", "migrate", "--database-url", "KEYWARD_BIND", "KEYWARD_TRUSTED_PROXIES"] {
        assert!(text.contains(word), "help lacks {word}:\n{text}");
    }
}
