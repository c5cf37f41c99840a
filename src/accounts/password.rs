//! Human passwords: argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane).

use std::sync::LazyLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};

/// Shortest accepted password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest accepted password: long enough for any passphrase, short enough to bound work.
pub const MAX_PASSWORD_CHARS: usize = 256;

/// A password that met the length rules. Never printed (`Debug` shows `[REDACTED]`), and its
/// memory is wiped when it is dropped.
#[derive(Debug)]
pub struct Password(SecretString);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("Use at least 12 characters.")]
    TooShort,
    #[error("Use at most 256 characters.")]
    TooLong,
}

impl Password {
    pub fn parse(raw: &str) -> Result<Self, PasswordError> {
        let n = raw.chars().count();
        if n < MIN_PASSWORD_CHARS {
            Err(PasswordError::TooShort)
        } else if n > MAX_PASSWORD_CHARS {
            Err(PasswordError::TooLong)
        } else {
            Ok(Self(raw.into()))
        }
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("static argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password into a PHC string. CPU-heavy: call on a blocking thread.
pub fn hash_password(password: &Password) -> String {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    argon2()
        .hash_password(password.expose().as_bytes(), &salt)
        .expect("argon2 hashing with valid parameters cannot fail")
        .to_string()
}

/// Checks a password against a stored PHC string. CPU-heavy: call on a blocking thread.
pub fn verify_password(candidate: &str, stored_hash: &str) -> bool {
    PasswordHash::new(stored_hash)
        .map(|parsed| argon2().verify_password(candidate.as_bytes(), &parsed).is_ok())
        .unwrap_or(false)
}

/// A hash of no one's password. Checked when the email is unknown so that a wrong email and
/// a wrong password take the same time.
pub static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_password(&Password("not a real password, only for timing".into())));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_round_trip_and_wrong_ones_fail() {
        let pw = Password::parse("correct horse battery").unwrap();
        let h = hash_password(&pw);
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterx", &h));
        assert!(!verify_password("anything", "not a phc string"));
    }

    #[test]
    fn debug_never_shows_the_password() {
        let pw = Password::parse("correct horse battery").unwrap();
        assert!(!format!("{pw:?}").contains("horse"), "{pw:?}");
    }

    #[test]
    fn length_rules() {
        assert_eq!(Password::parse("short").err(), Some(PasswordError::TooShort));
        assert!(Password::parse("twelve chars").is_ok());
        assert_eq!(Password::parse(&"x".repeat(257)).err(), Some(PasswordError::TooLong));
    }
}
