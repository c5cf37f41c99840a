//! Builds the application: shared by `main` and the integration tests, so the tests exercise
//! exactly what runs in production.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use actix_session::SessionMiddleware;
use actix_session::config::PersistentSession;
use actix_session::storage::CookieSessionStore;
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::{Server, ServerHandle};
use actix_web::http::StatusCode;
use actix_web::middleware::{Condition, ErrorHandlers, from_fn};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use sha2::{Digest, Sha512};

use crate::accounts::SetupCode;
use crate::accounts::two_factor::SecretCipher;
use crate::config::{DatabaseUrl, SecretKey, Settings};
use crate::db::{Db, DbConnection, prepare_sqlite_path, run_migrations};
use crate::keys::Catalogue;
use crate::state::AppState;
use crate::verifier::Verifier;
use crate::verifier::shared_limits::{LimitsMode, SharedLimiter};
use crate::web::body_deadline::{self, BodyDeadline};
use crate::web::health::RateLimitReport;
use crate::web::{headers, health, host_check, not_found, request_log};

/// Why the server could not start. Each reads as one plain line.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Catalogue(#[from] crate::keys::scopes::CatalogueError),
    #[error("cannot open the database: {0}")]
    Database(String),
    #[error("cannot listen on {addr}: {reason}")]
    Bind { addr: String, reason: String },
}

/// How long the head of a connection's first request may take to arrive.
const CLIENT_HEAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// How long a closing connection waits for the client.
const CLIENT_DISCONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// A built, bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    verifier: web::Data<Verifier>,
    usage_flusher: tokio::task::JoinHandle<()>,
    /// Delivers the webhook outbox (see [`crate::webhooks::dispatch`]).
    webhook_dispatcher: crate::webhooks::Dispatcher,
    /// The scheduled key rules: expiry reminders, unused keys (see [`crate::lifecycle`]).
    lifecycle: crate::lifecycle::Lifecycle,
    /// Hands freed heap pages back to the system now and then (see [`crate::memory`]).
    trimmer: tokio::task::JoinHandle<()>,
    /// Waits for SIGINT/SIGTERM (not in tests, which stop the server through its handle).
    signals: Option<tokio::task::JoinHandle<()>>,
}

/// Connects, migrates and returns the database handle. Used by `serve` and `migrate`.
pub async fn open_database(settings: &Settings) -> Result<(Db, usize), StartError> {
    prepare_sqlite_path(&settings.database_url).map_err(plain)?;
    let url = settings.database_url.clone();
    let pool_size = settings.pool_size;
    tokio::task::spawn_blocking(move || {
        let db = Db::connect(&url, pool_size).map_err(plain)?;
        let mut conn = db.get().map_err(plain)?;
        let applied = migrate(&mut conn).map_err(plain)?;
        drop(conn);
        Ok((db, applied))
    })
    .await
    .map_err(|e| StartError::Database(e.to_string()))?
}

/// Applies pending migrations, then brings up to date what SQL could not: names folded for
/// search by Rust's rules (SQL has only the database's `lower()`, ASCII-only on SQLite), once,
/// in the run that added their column. Returns how many migrations ran.
pub fn migrate(conn: &mut DbConnection) -> Result<usize, crate::db::DbError> {
    use crate::db::migrations::{AUDIT_KEY_SEARCH, KEY_SEARCH};
    let refold = |what: &str, e: diesel::result::Error| crate::db::DbError::Migration(format!("{what}: {e}"));
    let applied = run_migrations(conn)?;
    if applied.includes(KEY_SEARCH) {
        crate::keys::store::refold_search_names(conn)
            .map_err(|e| refold("folding key names for search", e))?;
    }
    if applied.includes(AUDIT_KEY_SEARCH) {
        crate::audit::refold_key_search_names(conn)
            .map_err(|e| refold("folding the audit log's key names", e))?;
    }
    Ok(applied.count())
}

/// The driver's own words, without our wrapper's prefix.
fn plain(e: crate::db::DbError) -> StartError {
    StartError::Database(match e {
        crate::db::DbError::Unavailable(m) => m,
        other => other.to_string(),
    })
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        // The dummy hash behind unknown-email sign-ins is made now, off the request path, so
        // the first such sign-in takes no longer than a wrong password.
        std::thread::spawn(|| std::sync::LazyLock::force(&crate::accounts::password::DUMMY_HASH));
        let catalogue = match &settings.scopes_file {
            Some(path) => Catalogue::load(path)?,
            None => Catalogue::default(),
        };
        // The port first: a start that cannot listen fails before touching the database, so
        // it prints its one line and nothing about migrations.
        let listener = TcpListener::bind(&settings.bind)
            .map_err(|e| StartError::Bind { addr: settings.bind.clone(), reason: e.to_string() })?;
        let port = listener
            .local_addr()
            .map_err(|e| StartError::Bind { addr: settings.bind.clone(), reason: e.to_string() })?
            .port();
        let (mut db, applied) = open_database(&settings).await?;
        if applied > 0 {
            tracing::info!(applied, "database migrations applied");
        }
        db.start_key_feed(settings.key_lease);
        let secret = instance_secret(&settings)?;
        let key = cookie_key_for(&secret);
        let two_factor_cipher = SecretCipher::for_instance(&secret);
        let webhooks = crate::webhooks::Webhooks::for_instance(&secret);
        let answers_cipher = SecretCipher::for_purpose(&secret, b"keyward idempotent-answer encryption v1\0");
        drop(secret);
        let setup_code = first_run_code(&db, &settings, port).await?;

        let settings = Arc::new(settings);
        let mailer = mailer(&settings)?;
        let metrics = Arc::new(crate::metrics::Metrics::new());
        let state = web::Data::new(AppState {
            db,
            settings: settings.clone(),
            catalogue: Arc::new(catalogue),
            // Start-up just asked: an instance that began with accounts never asks again.
            has_users: AtomicBool::new(setup_code.is_none()),
            login_throttle: crate::accounts::throttle::LoginThrottle::new(settings.login_throttle),
            setup_code,
            password_work: crate::accounts::password_work::PasswordWork::new(settings.password_work),
            mailer,
            two_factor_cipher,
            webhooks,
            answers_cipher,
            metrics: metrics.clone(),
        });
        let shared_limits = shared_limiter(&settings).await?;
        let verifier =
            web::Data::new(Verifier::new(state.db.clone(), settings.rate_limit, shared_limits, metrics));
        let limits_report: web::Data<dyn RateLimitReport> =
            web::Data::from(verifier.clone().into_inner() as Arc<dyn RateLimitReport>);
        let usage_flusher =
            crate::verifier::spawn_flusher(verifier.clone().into_inner(), settings.usage_flush_interval);
        let trimmer = crate::memory::spawn_trimmer();
        let webhook_dispatcher = crate::webhooks::Dispatcher::start(
            state.db.clone(),
            settings.webhooks,
            &state.webhooks,
            state.mailer.clone(),
        );
        let lifecycle = crate::lifecycle::spawn(state.db.clone(), state.mailer.clone(), settings.clone());

        let (app_state, app_verifier) = (state.clone(), verifier.clone());
        let app_settings = web::Data::from(settings.clone());
        let (workers, handle_signals, bind) =
            (settings.workers, settings.handle_signals, settings.bind.clone());
        let deadline = BodyDeadline {
            limit: settings.body_read_timeout,
            page: crate::console::layout::render_request_timeout,
        };
        let server = HttpServer::new(move || {
            let session = SessionMiddleware::builder(CookieSessionStore::default(), key.clone())
                .cookie_name(headers::session_cookie_name(settings.secure_cookies()).into())
                .cookie_path("/".into())
                .cookie_http_only(true)
                .cookie_same_site(SameSite::Lax)
                .cookie_secure(settings.secure_cookies())
                .session_lifecycle(PersistentSession::default().session_ttl(
                    actix_web::cookie::time::Duration::seconds(
                        settings.session_absolute_timeout.as_secs() as i64
                    ),
                ))
                .build();
            App::new()
                .app_data(app_state.clone())
                .app_data(app_verifier.clone())
                .app_data(limits_report.clone())
                .app_data(app_settings.clone())
                .app_data(web::PayloadConfig::new(crate::console::csrf::MAX_FORM_BYTES))
                .app_data(web::FormConfig::default().limit(crate::console::csrf::MAX_FORM_BYTES))
                .wrap(session)
                .wrap(from_fn(host_check::require_public_host))
                // Inside the log and the security headers, so a 408 is logged and carries them.
                .wrap(from_fn(move |req, next| body_deadline::enforce(req, next, deadline)))
                .wrap(from_fn(request_log::log_request))
                .wrap(headers::security_headers())
                .wrap(Condition::new(settings.secure_cookies(), headers::strict_transport()))
                .service(health::healthz)
                .service(health::readyz)
                .configure(|cfg| {
                    if app_settings.metrics_token.is_some() {
                        cfg.route(crate::web::metrics::PATH, web::get().to(crate::web::metrics::scrape));
                    }
                })
                .service(
                    web::scope("/api")
                        .wrap(
                            ErrorHandlers::new()
                                .handler(StatusCode::METHOD_NOT_ALLOWED, not_found::api_method_not_allowed),
                        )
                        .configure(crate::verifier::routes::configure)
                        .configure(crate::manage::configure),
                )
                .configure(crate::console::configure)
                .default_service(web::to(fallback))
        })
        .workers(workers)
        // A connection's first request head must arrive within this (actix's default, said
        // here so it is a choice): slow-loris headers are cut off, and the body has its own
        // deadline (`web::body_deadline`).
        .client_request_timeout(CLIENT_HEAD_TIMEOUT)
        // A connection being closed (keep-alive expired) is dropped if the client has not
        // acknowledged within this, rather than held open by a client that never reads.
        .client_disconnect_timeout(CLIENT_DISCONNECT_TIMEOUT)
        .shutdown_timeout(10)
        // actix treats SIGINT as a forced stop; we want both signals graceful (below).
        .disable_signals();
        let server = server
            .listen(listener)
            .map_err(|e| StartError::Bind { addr: bind, reason: e.to_string() })?
            .run();
        let signals = if handle_signals { Some(stop_on_signal(server.handle())?) } else { None };
        Ok(Self {
            port,
            server,
            state,
            verifier,
            usage_flusher,
            webhook_dispatcher,
            lifecycle,
            trimmer,
            signals,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server from outside (tests); `stop(true)` is graceful.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    pub fn verifier(&self) -> web::Data<Verifier> {
        self.verifier.clone()
    }

    /// Serves until a signal (or a handle) stops the server, after in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        if let Some(signals) = self.signals {
            signals.abort();
        }
        // No request can count anything any more: write what is left, then stop.
        self.usage_flusher.abort();
        self.webhook_dispatcher.stop();
        self.trimmer.abort();
        self.lifecycle.stop().await;
        self.verifier.clone().into_inner().flush_now().await;
        result?;
        tracing::info!("server stopped");
        Ok(())
    }
}

/// The Redis side of the rate limiter, when `KEYWARD_REDIS_URL` is set. Redis being down does
/// not stop the start: keys are then limited per instance until it answers (logged either way).
async fn shared_limiter(settings: &Settings) -> Result<Option<SharedLimiter>, StartError> {
    let Some(url) = &settings.redis_url else { return Ok(None) };
    let limiter =
        SharedLimiter::new(url).map_err(|e| StartError::Config(format!("KEYWARD_REDIS_URL ({url}): {e}")))?;
    if limiter.probe().await == LimitsMode::Redis {
        tracing::info!(redis = %url, "per-key rate limits are shared through Redis");
    }
    Ok(Some(limiter))
}

/// The SMTP client, when `KEYWARD_SMTP_URL` is set. Nothing connects yet: a mail server that is
/// down shows when an email is sent, on the page that sent it.
fn mailer(settings: &Settings) -> Result<Option<crate::mail::Mailer>, StartError> {
    let Some(smtp) = &settings.smtp else {
        tracing::info!(
            "no SMTP server configured (KEYWARD_SMTP_URL): invitation links are only shown to copy"
        );
        return Ok(None);
    };
    let mailer = crate::mail::Mailer::new(smtp).map_err(|e| StartError::Config(e.to_string()))?;
    tracing::info!(smtp = %smtp.url, from = %smtp.from, "invitations are emailed");
    if !smtp.url.uses_tls() {
        tracing::warn!(
            smtp = %smtp.url,
            "email goes to the SMTP server unencrypted: add ?tls=required or use smtps:// unless it is on a trusted network"
        );
    }
    Ok(Some(mailer))
}

/// Unknown addresses: the JSON error under `/api/`, the console's HTML 404 page elsewhere.
async fn fallback(req: HttpRequest) -> HttpResponse {
    if req.path().starts_with("/api/") {
        not_found::api_not_found()
    } else {
        crate::console::pages::render_not_found(&req).await
    }
}

/// Listens for SIGINT and SIGTERM and treats both alike: a graceful stop (no new connections,
/// requests in flight finish, then `run_until_stopped` flushes what is buffered and returns).
/// The handlers are installed before this returns, so no signal is missed once serving starts.
fn stop_on_signal(server: ServerHandle) -> Result<tokio::task::JoinHandle<()>, StartError> {
    use tokio::signal::unix::{SignalKind, signal};
    let listen = |kind: SignalKind| {
        signal(kind).map_err(|e| StartError::Config(format!("cannot listen for signals: {e}")))
    };
    let (mut interrupt, mut terminate) = (listen(SignalKind::interrupt())?, listen(SignalKind::terminate())?);
    Ok(tokio::spawn(async move {
        let name = tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        };
        tracing::info!(signal = name, "stopping: finishing requests in flight");
        server.stop(true).await;
    }))
}

/// On a fresh instance (no account yet), the code first-run setup asks for, printed in the
/// log: only whoever reads the server's output can claim it. `keyward admin create` makes the
/// first account without it.
async fn first_run_code(db: &Db, settings: &Settings, port: u16) -> Result<Option<SetupCode>, StartError> {
    let has_users = db
        .run(|conn| crate::accounts::store::any_user_exists(conn).map_err(crate::db::DbError::from))
        .await
        .map_err(|e| StartError::Database(e.to_string()))?;
    if has_users {
        return Ok(None);
    }
    let code = SetupCode::generate();
    let base = match crate::config::public_link(settings.public_url.as_ref(), "") {
        Some(base) => base,
        None => {
            let host = settings.bind.rsplit_once(':').map_or("localhost", |(host, _)| host);
            let host = if matches!(host, "0.0.0.0" | "[::]" | "") { "localhost" } else { host };
            format!("http://{host}:{port}")
        }
    };
    tracing::warn!(
        setup_code = %code.display(),
        "first-run setup: open {base}/setup and enter this setup code to create the first owner"
    );
    Ok(Some(code))
}

/// The instance's secret, which the cookie key and the two-factor secrets' key are derived from:
/// the configured secret or, on SQLite, the file beside the database. Never the database
/// itself: a copy of it would then forge sessions, read pending reveals and decrypt TOTP
/// secrets. Instances on PostgreSQL must share a secret, so it has to be configured.
fn instance_secret(settings: &Settings) -> Result<SecretKey, StartError> {
    let secret = match (&settings.secret_key, &settings.database_url) {
        (Some(secret), _) => secret.clone(),
        (None, DatabaseUrl::Sqlite(path)) => {
            SecretKey::beside_database(path).map_err(|e| StartError::Config(e.to_string()))?.0
        }
        (None, DatabaseUrl::Postgres(_)) => return Err(StartError::Config(NO_SHARED_SECRET.into())),
    };
    Ok(secret)
}

/// The cookie key a secret gives: SHA-512 of it (signing and encryption halves).
pub fn cookie_key_for(secret: &SecretKey) -> Key {
    Key::from(&Sha512::digest(secret.expose().as_bytes())[..])
}

const NO_SHARED_SECRET: &str = "on PostgreSQL every keyward instance must share a cookie secret: put 32+ \
    random characters (e.g. `head -c 32 /dev/urandom | base64`) in a file only keyward can read and set \
    KEYWARD_SECRET_KEY_FILE to its path (or set KEYWARD_SECRET_KEY)";

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;

    use diesel_migrations::MigrationHarness;

    use super::*;
    use crate::db::migrations::{KEY_SEARCH, SQLITE};
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
        assert!(migrate(&mut conn).unwrap() >= 1);
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
        assert!(migrate(&mut conn).unwrap() >= 1);
        let folded: Vec<Option<String>> = audit_events::table
            .select(audit_events::key_search_name)
            .order(audit_events::id.asc())
            .load(&mut conn)
            .unwrap();
        assert_eq!(folded, [Some("ärger deploy".to_owned()), None]);
    }
}
