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
    #[error("This is one of the most common passwords, tried first by anyone guessing. Choose another.")]
    Common,
    #[error("Your password cannot be your email address. Choose another.")]
    SameAsEmail,
}

/// The 10,000 most common passwords, most common first: the head of the password frequency
/// list zxcvbn ships (MIT licence), one per line, lower-case. Compiled into the binary so the
/// check needs no file and no network.
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

static COMMON: LazyLock<std::collections::HashSet<&'static str>> =
    LazyLock::new(|| COMMON_PASSWORDS.lines().filter(|l| !l.is_empty()).collect());

/// Whether `raw` is on the common-password list, compared without case (the list is
/// lower-case, and `Password1234` is guessed as early as `password1234`).
pub fn is_common(raw: &str) -> bool {
    COMMON.contains(raw.to_lowercase().as_str())
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

    /// A password someone chooses for their own account (setup, invitation, change, reset):
    /// the length rules, and neither a common password nor the account's email address (nor
    /// its part before the `@`). Signing in checks only [`Password::parse`], so a password
    /// chosen before these rules keeps working.
    pub fn choose(raw: &str, email: &str) -> Result<Self, PasswordError> {
        let password = Self::parse(raw)?;
        let typed = raw.trim().to_lowercase();
        let email = email.trim().to_lowercase();
        let local = email.split('@').next().unwrap_or_default();
        if typed == email || (!local.is_empty() && typed == local) {
            return Err(PasswordError::SameAsEmail);
        }
        if is_common(raw) {
            return Err(PasswordError::Common);
        }
        Ok(password)
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
    fn chosen_passwords_are_neither_common_nor_the_email() {
        assert_eq!(COMMON.len(), 10_000);
        let email = "ada.lovelace.1815@example.com";
        assert_eq!(Password::choose("123qweasdzxc", email).err(), Some(PasswordError::Common));
        assert_eq!(Password::choose("LeaveMeAlone", email).err(), Some(PasswordError::Common));
        assert_eq!(
            Password::choose("Ada.Lovelace.1815@example.com", email).err(),
            Some(PasswordError::SameAsEmail)
        );
        assert_eq!(Password::choose("ada.lovelace.1815", email).err(), Some(PasswordError::SameAsEmail));
        assert_eq!(Password::choose("short", email).err(), Some(PasswordError::TooShort));
        assert!(Password::choose("correct horse battery", email).is_ok());
        // Signing in is not choosing: an old common password still parses.
        assert!(Password::parse("123qweasdzxc").is_ok());
    }

    #[test]
    fn length_rules() {
        assert_eq!(Password::parse("short").err(), Some(PasswordError::TooShort));
        assert!(Password::parse("twelve chars").is_ok());
        assert_eq!(Password::parse(&"x".repeat(257)).err(), Some(PasswordError::TooLong));
    }
}
