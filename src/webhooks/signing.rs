//! Signatures as the Standard Webhooks specification defines them
//! (<https://www.standardwebhooks.com>), so receivers can check them with its published
//! libraries: the secret is `whsec_` and the base64 of 32 random bytes; each request carries
//! `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`, which is `v1,` and
//! the base64 of HMAC-SHA256 under the secret's bytes over `{id}.{timestamp}.{body}`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::{Rng, TryRngCore};
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;

/// What every signing secret starts with.
pub const SECRET_PREFIX: &str = "whsec_";
const SECRET_BYTES: usize = 32;

/// An endpoint's signing secret, in the clear only in memory: shown to the owner once, sealed
/// for the database (`SecretCipher`), opened to sign a delivery.
pub struct SigningSecret(SecretBox<Vec<u8>>);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(..)")
    }
}

impl SigningSecret {
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; SECRET_BYTES];
        rand::rngs::OsRng.unwrap_err().fill(&mut bytes[..]);
        Self::from_bytes(bytes)
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(SecretBox::new(Box::new(bytes)))
    }

    /// Reads the `whsec_…` form back.
    pub fn parse(text: &str) -> Option<Self> {
        let body = text.strip_prefix(SECRET_PREFIX)?;
        let bytes = STANDARD.decode(body).ok().filter(|b| !b.is_empty())?;
        Some(Self::from_bytes(bytes))
    }

    /// The form receivers configure: `whsec_` and base64.
    pub fn reveal(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(self.0.expose_secret()))
    }

    pub fn bytes(&self) -> &[u8] {
        self.0.expose_secret()
    }

    /// The `webhook-signature` header's value for one message.
    pub fn sign(&self, message_id: &str, timestamp: i64, body: &str) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.0.expose_secret()).expect("HMAC takes a key of any length");
        mac.update(message_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body.as_bytes());
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the specification's reference libraries (the Python package's tests and
    /// the Svix documentation): the same secret, id, time and body give this signature.
    #[test]
    fn signs_the_published_example_alike() {
        let secret = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signature = secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, r#"{"test": 2432232314}"#);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_new_secret_round_trips_and_differs_each_time() {
        let a = SigningSecret::generate();
        let shown = a.reveal();
        assert!(shown.starts_with("whsec_"));
        assert_eq!(SigningSecret::parse(&shown).unwrap().bytes(), a.bytes());
        assert_eq!(a.bytes().len(), 32);
        assert_ne!(SigningSecret::generate().reveal(), shown);
        assert!(SigningSecret::parse("whsec_").is_none());
        assert!(SigningSecret::parse("nope").is_none());
        assert_eq!(format!("{a:?}"), "SigningSecret(..)");
    }
}
