//! Signed webhooks: owners add endpoints (`endpoints`), each event the outbox holds
//! (`crate::events`) is delivered by the dispatcher (`dispatch`), signed as the Standard
//! Webhooks specification says (`signing`), only to addresses outside the server's own network
//! unless the operator allows them (`url`).

pub mod dispatch;
pub mod endpoints;
pub mod signing;
pub mod url;

use std::sync::Arc;

use tokio::sync::Notify;

use crate::accounts::two_factor::SecretCipher;
use crate::config::SecretKey;

pub use dispatch::Dispatcher;
pub use endpoints::{Endpoint, EndpointInput, InputErrors, Queued};
pub use signing::SigningSecret;
pub use url::{UrlError, WebhookUrl};

/// The purpose label of the key that seals signing secrets, so it differs from the key of the
/// two-factor secrets made from the same instance secret.
const KEY_PURPOSE: &[u8] = b"keyward webhook-signing-secret encryption v1\0";

/// What the console needs of webhooks: the cipher of signing secrets and the dispatcher's
/// doorbell. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Webhooks {
    cipher: SecretCipher,
    wake: Arc<Notify>,
}

impl Webhooks {
    pub fn for_instance(secret: &SecretKey) -> Self {
        Self { cipher: SecretCipher::for_purpose(secret, KEY_PURPOSE), wake: Arc::new(Notify::new()) }
    }

    pub fn cipher(&self) -> &SecretCipher {
        &self.cipher
    }

    /// Wakes the dispatcher now rather than at its next poll (after a test event or a
    /// redelivery, which someone is watching for).
    pub fn nudge(&self) {
        self.wake.notify_one();
    }

    fn wake(&self) -> Arc<Notify> {
        self.wake.clone()
    }
}
