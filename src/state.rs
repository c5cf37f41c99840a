//! What every console handler can reach: the database, the settings and long-lived services.
//! (The verifier's endpoints take the `Verifier` and the `Settings` instead; leak reports,
//! `POST /api/v1/leaks`, take this for the database and the mailer.)

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::config::Settings;
use crate::db::Db;
use crate::keys::Catalogue;

/// Shared application state, registered once as `web::Data<AppState>`.
pub struct AppState {
    pub db: Db,
    pub settings: Arc<Settings>,
    pub catalogue: Arc<Catalogue>,
    /// Set once the first user exists, so console requests stop asking.
    pub has_users: AtomicBool,
    /// Failed sign-in counters: per account and network, per account, per network.
    pub login_throttle: crate::accounts::throttle::LoginThrottle,
    /// Asked for by first-run setup; made (and printed in the log) when the instance starts
    /// with no user yet. `None` once an account existed at start.
    pub setup_code: Option<crate::accounts::SetupCode>,
    /// The bound on argon2 work at once: every password a request hashes or checks goes
    /// through it.
    pub password_work: crate::accounts::password_work::PasswordWork,
    /// Outgoing email (`KEYWARD_SMTP_URL`); `None` when not configured, and then links are
    /// only shown to copy.
    pub mailer: Option<crate::mail::Mailer>,
    /// Encrypts TOTP secrets at rest, with a key derived from the instance's secret key.
    pub two_factor_cipher: crate::accounts::two_factor::SecretCipher,
    /// Webhooks: the cipher of signing secrets, and the dispatcher's doorbell.
    pub webhooks: crate::webhooks::Webhooks,
    /// Seals the management API's replayable answers (they hold new secrets) at rest.
    pub answers_cipher: crate::accounts::two_factor::SecretCipher,
    /// This instance's metrics (the verifier holds the same registry).
    pub metrics: Arc<crate::metrics::Metrics>,
}
