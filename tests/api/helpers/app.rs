//! A running keyward for one test: [`spawn_app`] starts the server in-process on a random port
//! with its own database, and the [`TestApp`] hands out [`Client`]s to talk to it.

use actix_web::dev::ServerHandle;
use actix_web::web;
use keyward::config::{DatabaseUrl, SecretKey, Settings};
use keyward::startup::Application;
use keyward::state::AppState;
use keyward::verifier::Verifier;

use super::backend::{Backend, TestDb};
use super::client::{Client, assert_is_redirect_to, input_value};

pub const OWNER_EMAIL: &str = "owner@example.com";
pub const OWNER_PASSWORD: &str = "correct horse battery staple";
/// The password of every member a test adds (`add_member`, `db::insert_member`).
pub const MEMBER_PASSWORD: &str = "member password 1234";

/// A running keyward, its database, and the app's own client.
pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub backend: Backend,
    pub state: web::Data<AppState>,
    pub verifier: web::Data<Verifier>,
    pub database_url: DatabaseUrl,
    client: Client,
    handle: ServerHandle,
    /// The server task; `stop` waits for it, so shutdown work (the usage flush) is done.
    run: tokio::sync::Mutex<Option<tokio::task::JoinHandle<std::io::Result<()>>>>,
    // Dropped last: the server must stop using the database before it is removed. `None` for
    // a second instance on another's database.
    _db: Option<TestDb>,
}

/// The cookie secret of every PostgreSQL test server (which needs one; on SQLite the server
/// makes its own beside the database).
pub const TEST_SECRET_KEY: &str = "a cookie secret for the test servers, 32+ characters";

/// Test settings: a random port, one worker, signals left to the test runner.
pub fn test_settings(database_url: DatabaseUrl) -> Settings {
    let postgres = matches!(database_url, DatabaseUrl::Postgres(_));
    let mut s = Settings::new(database_url);
    if postgres {
        s.secret_key = Some(SecretKey::parse(TEST_SECRET_KEY, "test").expect("a long enough secret"));
    }
    s.bind = "127.0.0.1:0".into();
    s.workers = 1;
    s.pool_size = 4;
    s.handle_signals = false;
    s
}

/// Whether this machine can listen on the IPv6 loopback (containers often have no `::1`).
pub fn ipv6_loopback() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let (db, url) = TestDb::create(backend);
    start(backend, url, Some(db), tweak).await
}

/// Another instance on `first`'s database, as a second server behind a load balancer.
pub async fn spawn_another(first: &TestApp, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    start(first.backend, first.database_url.clone(), None, tweak).await
}

async fn start(
    backend: Backend,
    url: DatabaseUrl,
    db: Option<TestDb>,
    tweak: impl FnOnce(&mut Settings),
) -> TestApp {
    let mut settings = test_settings(url.clone());
    tweak(&mut settings);
    // The host the server was bound to (`127.0.0.1`, or `[::1]` for a test over IPv6).
    let host = settings.bind.rsplit_once(':').map_or("127.0.0.1", |(host, _)| host).to_owned();
    let app = Application::build(settings).await.expect("the app starts");
    let port = app.port();
    let handle = app.handle();
    let (state, verifier) = (app.state(), app.verifier());
    let run = tokio::spawn(app.run_until_stopped());
    let address = format!("http://{host}:{port}");
    TestApp {
        client: Client::new(&address),
        address,
        port,
        backend,
        state,
        verifier,
        database_url: url,
        handle,
        run: tokio::sync::Mutex::new(Some(run)),
        _db: db,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// The app's own client: the owner's once `setup_owner` has run.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Another browser on this server, with its own cookie jar (none yet).
    pub fn new_client(&self) -> Client {
        Client::new(&self.address)
    }

    /// The code this fresh server printed for first-run setup.
    pub fn setup_code(&self) -> String {
        self.state.setup_code.as_ref().expect("a server started with no account has a setup code").display()
    }

    /// Completes first-run setup as the owner (workspace "Acme"); the app's client is signed
    /// in afterwards.
    pub async fn setup_owner(&self) {
        let code = self.setup_code();
        let res = self
            .client
            .post_form(
                "/setup",
                "/setup",
                &[
                    ("setup_code", code.as_str()),
                    ("email", OWNER_EMAIL),
                    ("password", OWNER_PASSWORD),
                    ("password_confirm", OWNER_PASSWORD),
                    ("workspace_name", "Acme"),
                ],
            )
            .await;
        assert_is_redirect_to(&res, "/settings/api-keys");
    }

    /// A new browser signed in as `email`, whose password is [`MEMBER_PASSWORD`].
    pub async fn sign_in_as(&self, email: &str) -> Client {
        let client = self.new_client();
        assert_eq!(client.sign_in(email, MEMBER_PASSWORD).await.status(), 303, "sign-in as {email}");
        client
    }

    /// Invites `email` as `role` (owner/admin/viewer) through Settings → Members with the app's
    /// own client (which must be signed in as an owner); returns the invitation link the page
    /// shows once.
    pub async fn invite(&self, email: &str, role: &str) -> String {
        invite_with(&self.client, email, role).await
    }

    /// Adds `email` as `role` the way people join: the app's own client (an owner) invites
    /// them, and a new browser follows the link, choosing [`MEMBER_PASSWORD`] for a new account
    /// or signing in with it to an existing one. Returns that browser, signed in.
    pub async fn add_member(&self, email: &str, role: &str) -> Client {
        let link = self.invite(email, role).await;
        self.accept_invitation(&link, email).await
    }

    /// A new browser that accepts the invitation at `link` as `email` (password
    /// [`MEMBER_PASSWORD`]), and is signed in afterwards.
    pub async fn accept_invitation(&self, link: &str, email: &str) -> Client {
        let path = invitation_path(link);
        let client = self.new_client();
        let html = client.get_text(&path).await;
        if html.contains("name=\"password_confirm\"") {
            let form = [("password", MEMBER_PASSWORD), ("password_confirm", MEMBER_PASSWORD)];
            assert_is_redirect_to(&client.post_form(&path, &path, &form).await, "/settings/api-keys");
        } else {
            assert_eq!(client.sign_in(email, MEMBER_PASSWORD).await.status(), 303, "sign-in as {email}");
            assert_is_redirect_to(&client.post_form(&path, &path, &[]).await, "/settings/api-keys");
        }
        client
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(&self) {
        self.handle.stop(true).await;
        if let Some(run) = self.run.lock().await.take() {
            let _ = run.await;
        }
    }
}

/// Invites `email` as `role` with `owner`'s browser; returns the link shown once.
pub async fn invite_with(owner: &Client, email: &str, role: &str) -> String {
    let res = owner
        .post_form("/settings/members", "/settings/invitations", &[("email", email), ("role", role)])
        .await;
    assert_eq!(res.status(), 303, "inviting {email}");
    let page = res.headers().get("location").unwrap().to_str().unwrap().to_owned();
    let html = owner.get_text(&page).await;
    input_value(&html, "invitation-link").unwrap_or_else(|| panic!("no invitation link on {page}:\n{html}"))
}

/// `http://host:port/invitations/TOKEN` → `/invitations/TOKEN`.
pub fn invitation_path(link: &str) -> String {
    let at = link.find("/invitations/").unwrap_or_else(|| panic!("not an invitation link: {link}"));
    link[at..].to_owned()
}

/// Another keyward serving the same database as a [`TestApp`], as an operator runs several
/// behind one load balancer; its own settings come from `tweak`.
pub struct Instance {
    pub address: String,
    pub verifier: web::Data<Verifier>,
    client: Client,
    handle: ServerHandle,
    run: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestApp {
    /// Starts a second instance on this app's database.
    pub async fn another_instance(&self, tweak: impl FnOnce(&mut Settings)) -> Instance {
        let mut settings = test_settings(self.database_url.clone());
        tweak(&mut settings);
        let app = Application::build(settings).await.expect("the second instance starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        let (handle, verifier) = (app.handle(), app.verifier());
        let run = tokio::spawn(app.run_until_stopped());
        Instance { client: Client::new(&address), address, verifier, handle, run }
    }
}

impl Instance {
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Stops it gracefully and waits for it. Its client goes first: a graceful stop waits
    /// for the client's idle keep-alive connections otherwise.
    pub async fn stop(self) {
        let Self { client, handle, run, .. } = self;
        drop(client);
        handle.stop(true).await;
        let _ = run.await;
    }
}
