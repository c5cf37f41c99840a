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
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha512};

use crate::config::Settings;
use crate::db::instance_settings;
use crate::db::{Db, DbConnection, prepare_sqlite_path, run_migrations};
use crate::keys::Catalogue;
use crate::state::AppState;
use crate::web::{assets, headers, health, not_found, request_log};

/// Why the server could not start. Each reads as one plain line.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(String),
    #[error("cannot open the database: {0}")]
    Database(String),
    #[error("cannot listen on {addr}: {reason}")]
    Bind { addr: String, reason: String },
}

/// A built, bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    usage_flusher: tokio::task::JoinHandle<()>,
    /// Hands freed heap pages back to the system now and then (see [`crate::memory`]).
    trimmer: tokio::task::JoinHandle<()>,
    /// Waits for SIGINT/SIGTERM (not in tests, which stop the server through its handle).
    signals: Option<tokio::task::JoinHandle<()>>,
}

/// Connects, migrates and returns the database handle. Used by `serve` and `migrate`.
pub async fn open_database(settings: &Settings) -> Result<(Db, usize), StartError> {
    prepare_sqlite_path(&settings.database_url).map_err(StartError::Database)?;
    let url = settings.database_url.clone();
    let pool_size = settings.pool_size;
    tokio::task::spawn_blocking(move || {
        let db = Db::connect(&url, pool_size).map_err(plain)?;
        let mut conn = db.get().map_err(plain)?;
        let applied = run_migrations(&mut conn).map_err(StartError::Database)?;
        drop(conn);
        Ok((db, applied))
    })
    .await
    .map_err(|e| StartError::Database(e.to_string()))?
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
            Some(path) => Catalogue::load(path).map_err(StartError::Config)?,
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
        let (db, applied) = open_database(&settings).await?;
        if applied > 0 {
            tracing::info!(applied, "database migrations applied");
        }
        let key = cookie_key(&settings, &db).await?;

        let settings = Arc::new(settings);
        let state = web::Data::new(AppState {
            db,
            settings: settings.clone(),
            catalogue: Arc::new(catalogue),
            has_users: AtomicBool::new(false),
            login_throttle: crate::accounts::throttle::LoginThrottle::new(settings.login_throttle),
            verifier: Arc::new(crate::verifier::Verifier::new(settings.rate_limit)),
        });
        let usage_flusher = crate::verifier::spawn_flusher(
            state.verifier.clone(),
            state.db.clone(),
            settings.usage_flush_interval,
        );
        let trimmer = crate::memory::spawn_trimmer();

        let app_state = state.clone();
        let (workers, handle_signals, bind) =
            (settings.workers, settings.handle_signals, settings.bind.clone());
        let server = HttpServer::new(move || {
            let session = SessionMiddleware::builder(CookieSessionStore::default(), key.clone())
                .cookie_name("keyward_session".into())
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
                .app_data(web::PayloadConfig::new(crate::console::csrf::MAX_FORM_BYTES))
                .app_data(web::FormConfig::default().limit(crate::console::csrf::MAX_FORM_BYTES))
                .wrap(session)
                .wrap(from_fn(request_log::log_request))
                .wrap(headers::security_headers())
                .service(health::healthz)
                .service(health::readyz)
                .service(assets::asset)
                .service(
                    web::scope("/api")
                        .wrap(
                            ErrorHandlers::new()
                                .handler(StatusCode::METHOD_NOT_ALLOWED, not_found::api_method_not_allowed),
                        )
                        .configure(crate::verifier::routes::configure),
                )
                .configure(crate::console::configure)
                .default_service(web::to(not_found::not_found))
        })
        .workers(workers)
        .shutdown_timeout(10)
        // actix treats SIGINT as a forced stop; we want both signals graceful (below).
        .disable_signals();
        let server = server
            .listen(listener)
            .map_err(|e| StartError::Bind { addr: bind, reason: e.to_string() })?
            .run();
        let signals = if handle_signals { Some(stop_on_signal(server.handle())?) } else { None };
        Ok(Self { port, server, state, usage_flusher, trimmer, signals })
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

    /// Serves until a signal (or a handle) stops the server, after in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        if let Some(signals) = self.signals {
            signals.abort();
        }
        // No request can count anything any more: write what is left, then stop.
        self.usage_flusher.abort();
        self.trimmer.abort();
        self.state.verifier.flush_now(&self.state.db).await;
        result?;
        tracing::info!("server stopped");
        Ok(())
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

/// The cookie key: derived from `KEYWARD_SECRET_KEY` when given, otherwise generated once and
/// kept in the database, so every instance sharing the database accepts the same cookies.
async fn cookie_key(settings: &Settings, db: &Db) -> Result<Key, StartError> {
    if let Some(secret) = &settings.secret_key {
        let secret = secret.expose_secret();
        if secret.len() < 32 {
            return Err(StartError::Config("KEYWARD_SECRET_KEY must be at least 32 characters".into()));
        }
        return Ok(Key::from(&Sha512::digest(secret.as_bytes())[..]));
    }
    let stored = db
        .write(|conn: &mut DbConnection| -> Result<String, crate::db::DbError> {
            // Insert-if-absent, then read: of instances starting at once on a fresh database,
            // the first insert wins and the others read it back, where a read-then-insert
            // would have failed their start on the unique name.
            let fresh = hex::encode(Key::generate().master());
            instance_settings::insert_if_absent(conn, "cookie_key", &fresh)?;
            Ok(instance_settings::get(conn, "cookie_key")?.unwrap_or(fresh))
        })
        .await
        .map_err(|e| StartError::Database(e.to_string()))?;
    let bytes =
        hex::decode(stored).map_err(|_| StartError::Database("stored cookie key is corrupt".into()))?;
    Key::try_from(&bytes[..]).map_err(|_| StartError::Database("stored cookie key is too short".into()))
}
