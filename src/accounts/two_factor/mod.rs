//! Two-factor sign-in with time-based one-time passwords (RFC 6238: 30-second steps, 6 digits,
//! HMAC-SHA-1, which is what authenticator apps expect), recovery codes, and the encryption of
//! the TOTP secret at rest.
//!
//! The secret must be read back to check a code, so unlike passwords and tokens it cannot be
//! stored as a hash: it is encrypted with a key derived from the instance's secret key
//! ([`SecretCipher`]), so a copy of the database alone yields no secret.

pub mod store;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use rand::{Rng, TryRngCore};
use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

use crate::config::SecretKey;

/// Seconds per TOTP step.
pub const STEP_SECONDS: u64 = 30;
/// Digits of a code.
pub const DIGITS: usize = 6;
/// Steps either side of the current one whose codes are still accepted, for clock drift and
/// the time it takes to type.
const SKEW_STEPS: i64 = 1;
/// Recovery codes made at enrolment and on each regeneration.
pub const RECOVERY_CODES: usize = 10;
/// 160 bits, the length RFC 4226 recommends for HMAC-SHA-1.
const SECRET_BYTES: usize = 20;

/// The purpose label mixed into the key derivation, so this key differs from the cookie key
/// made from the same instance secret. The version lets a later scheme derive another.
const KEY_PURPOSE: &[u8] = b"keyward totp-secret encryption v1\0";
/// Marks the stored format (AES-256-GCM, 12-byte nonce, base64 of nonce and ciphertext).
const STORED_PREFIX: &str = "v1:";
const NONCE_BYTES: usize = 12;

/// A TOTP secret in the clear: only ever in memory, for the enrolment page and code checks.
pub struct TotpSecret(SecretBox<Vec<u8>>);

impl TotpSecret {
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; SECRET_BYTES];
        rand::rngs::OsRng.unwrap_err().fill(&mut bytes[..]);
        Self(SecretBox::new(Box::new(bytes)))
    }

    fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(SecretBox::new(Box::new(bytes)))
    }

    /// Base32 (RFC 4648, no padding), as authenticator apps take it.
    pub fn base32(&self) -> String {
        self.totp().get_secret_base32()
    }

    /// The base32 text in groups of four, for typing it by hand.
    pub fn grouped(&self) -> String {
        let b32 = self.base32();
        let chars: Vec<char> = b32.chars().collect();
        chars.chunks(4).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join(" ")
    }

    /// The `otpauth://` address a QR code carries. `account` is the user's email.
    pub fn otpauth_url(&self, issuer: &str, account: &str) -> String {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        // The label's colon separates issuer and account; spaces must be %20 there, not `+`.
        let label = format!("{}:{}", enc(issuer), enc(account)).replace('+', "%20");
        format!(
            "otpauth://totp/{label}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
            self.base32(),
            enc(issuer).replace('+', "%20"),
        )
    }

    fn totp(&self) -> TOTP {
        // Lengths are ours and valid; the unchecked constructor avoids a fallible path.
        TOTP::new_unchecked(Algorithm::SHA1, DIGITS, 0, STEP_SECONDS, self.0.expose_secret().clone())
    }

    /// The step of `code` when it is the code of a step within the accepted window around
    /// `unix_now`; `None` otherwise. Every candidate step is compared, in constant time, so
    /// the answer's timing says nothing about which one matched.
    pub fn matching_step(&self, code: &TotpCode, unix_now: u64) -> Option<i64> {
        let totp = self.totp();
        let current = (unix_now / STEP_SECONDS) as i64;
        let mut found = None;
        for step in current - SKEW_STEPS..=current + SKEW_STEPS {
            let Ok(at) = u64::try_from(step) else { continue };
            let expected = totp.generate(at * STEP_SECONDS);
            if bool::from(expected.as_bytes().ct_eq(code.0.as_bytes())) && found.is_none() {
                found = Some(step);
            }
        }
        found
    }

    /// The code of the step containing `unix_time` (for tests and tools).
    pub fn code_at(&self, unix_time: u64) -> String {
        self.totp().generate(unix_time)
    }
}

/// A code as typed: six digits once spaces are removed (apps show "123 456").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpCode(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TotpCodeError {
    #[error("Enter the 6-digit code from your authenticator app.")]
    Empty,
    #[error("A code is 6 digits, like 123456. Enter the code your authenticator app shows now.")]
    Malformed,
}

impl TotpCode {
    pub fn parse(raw: &str) -> Result<Self, TotpCodeError> {
        let digits: String = raw.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
        if digits.is_empty() {
            return Err(TotpCodeError::Empty);
        }
        if digits.len() != DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TotpCodeError::Malformed);
        }
        Ok(Self(digits))
    }
}

/// Encrypts TOTP secrets for the database and decrypts them back.
#[derive(Clone)]
pub struct SecretCipher(Aes256Gcm);

impl std::fmt::Debug for SecretCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretCipher(..)")
    }
}

/// A stored secret that cannot be read: another instance secret, or a damaged value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the stored two-factor secret cannot be decrypted with this instance's secret key")]
pub struct UndecryptableSecret;

impl SecretCipher {
    /// The cipher for an instance: its key is SHA-256 over a purpose label and the secret.
    pub fn for_instance(secret: &SecretKey) -> Self {
        Self::for_purpose(secret, KEY_PURPOSE)
    }

    /// A cipher for other secrets the instance must read back (webhook signing secrets), under
    /// its own purpose label, so its key differs from this one's.
    pub fn for_purpose(secret: &SecretKey, purpose: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(purpose);
        hasher.update(secret.expose().as_bytes());
        let key = hasher.finalize();
        Self(Aes256Gcm::new(&key))
    }

    /// `v1:` and the base64 of a fresh random nonce followed by the ciphertext.
    pub fn seal(&self, secret: &TotpSecret) -> String {
        self.seal_bytes(secret.0.expose_secret())
    }

    pub fn open(&self, stored: &str) -> Result<TotpSecret, UndecryptableSecret> {
        self.open_bytes(stored).map(TotpSecret::from_bytes)
    }

    /// [`SecretCipher::seal`] for any bytes.
    pub fn seal_bytes(&self, plain: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rngs::OsRng.unwrap_err().fill(&mut nonce);
        let sealed = self
            .0
            .encrypt(Nonce::from_slice(&nonce), plain)
            .expect("AES-GCM encrypts any input of this size");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{STORED_PREFIX}{}", STANDARD_NO_PAD.encode(out))
    }

    /// [`SecretCipher::open`] for any bytes.
    pub fn open_bytes(&self, stored: &str) -> Result<Vec<u8>, UndecryptableSecret> {
        let body = stored.strip_prefix(STORED_PREFIX).ok_or(UndecryptableSecret)?;
        let bytes = STANDARD_NO_PAD.decode(body).map_err(|_| UndecryptableSecret)?;
        if bytes.len() <= NONCE_BYTES {
            return Err(UndecryptableSecret);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
        self.0.decrypt(Nonce::from_slice(nonce), sealed).map_err(|_| UndecryptableSecret)
    }
}

/// A recovery code as shown to the user: `xxxxx-xxxxx` from an alphabet without look-alikes.
pub struct RecoveryCode(String);

/// Lower-case letters and digits without 0/o, 1/l/i: 31 symbols, 10 of them ≈ 49 bits.
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

impl RecoveryCode {
    pub fn generate() -> Self {
        let mut rng = rand::rngs::OsRng.unwrap_err();
        let mut s = String::with_capacity(11);
        for i in 0..10 {
            if i == 5 {
                s.push('-');
            }
            s.push(RECOVERY_ALPHABET[rng.random_range(0..RECOVERY_ALPHABET.len())] as char);
        }
        Self(s)
    }

    /// Ten fresh codes.
    pub fn generate_set() -> Vec<Self> {
        (0..RECOVERY_CODES).map(|_| Self::generate()).collect()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// How it is stored: the SHA-256 of its normalised form. About 49 random bits, single use,
    /// and only tried behind the sign-in throttle: a fast hash is enough.
    pub fn hash(&self) -> String {
        recovery_code_hash(&self.0)
    }
}

/// The stored hash of a recovery code as typed: case, spaces and dashes do not matter.
pub fn recovery_code_hash(typed: &str) -> String {
    let normal: String =
        typed.chars().filter(|c| !c.is_whitespace() && *c != '-').flat_map(char::to_lowercase).collect();
    crate::text::token_hash(&normal)
}

/// Whether `typed` could be a recovery code at all (so nothing is looked up for empty input).
pub fn looks_like_recovery_code(typed: &str) -> bool {
    typed.chars().filter(|c| c.is_ascii_alphanumeric()).count() == 10
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher(secret: &str) -> SecretCipher {
        SecretCipher::for_instance(&SecretKey::parse(secret, "test").unwrap())
    }

    #[test]
    fn a_sealed_secret_opens_with_the_same_instance_key_only() {
        let secret = TotpSecret::generate();
        let sealed = cipher("an instance secret of enough characters").seal(&secret);
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains(&secret.base32()));
        let opened = cipher("an instance secret of enough characters").open(&sealed).unwrap();
        assert_eq!(opened.base32(), secret.base32());
        assert_eq!(
            cipher("another instance secret, also long").open(&sealed).err(),
            Some(UndecryptableSecret)
        );
        assert!(cipher("an instance secret of enough characters").open("garbage").is_err());
    }

    #[test]
    fn the_rfc_6238_sha1_vectors_hold() {
        // RFC 6238, appendix B: the ASCII secret "12345678901234567890", 8-digit codes; the
        // last six digits are the 6-digit codes.
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        assert_eq!(secret.code_at(59), "287082");
        assert_eq!(secret.code_at(1_111_111_109), "081804");
        assert_eq!(secret.code_at(2_000_000_000), "279037");
        assert_eq!(secret.base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }

    #[test]
    fn codes_of_the_steps_next_to_now_match_and_others_do_not() {
        let secret = TotpSecret::generate();
        let now = 1_800_000_015;
        let step = (now / STEP_SECONDS) as i64;
        for (offset, expected) in
            [(-60i64, None), (-30, Some(step - 1)), (0, Some(step)), (30, Some(step + 1)), (60, None)]
        {
            let code = TotpCode::parse(&secret.code_at((now as i64 + offset) as u64)).unwrap();
            // A code of another step may collide by chance (one in a million); skip it.
            if expected.is_none() && secret.matching_step(&code, now).is_some() {
                continue;
            }
            assert_eq!(secret.matching_step(&code, now), expected, "offset {offset}");
        }
    }

    #[test]
    fn typed_codes_are_parsed_into_six_digits() {
        assert_eq!(TotpCode::parse(" 123 456 ").unwrap(), TotpCode("123456".into()));
        assert_eq!(TotpCode::parse(""), Err(TotpCodeError::Empty));
        assert_eq!(TotpCode::parse("12345"), Err(TotpCodeError::Malformed));
        assert_eq!(TotpCode::parse("12345a"), Err(TotpCodeError::Malformed));
    }

    #[test]
    fn recovery_codes_compare_without_case_spaces_or_dashes() {
        let code = RecoveryCode::generate();
        assert_eq!(code.as_str().len(), 11);
        assert_eq!(recovery_code_hash(&code.as_str().to_uppercase().replace('-', " ")), code.hash());
        assert!(looks_like_recovery_code(code.as_str()));
    }

    #[test]
    fn the_grouped_secret_is_the_base32_secret() {
        let secret = TotpSecret::generate();
        assert_eq!(secret.grouped().replace(' ', ""), secret.base32());
        assert_eq!(secret.base32().len(), 32);
        let url = secret.otpauth_url("keyward", "a b@example.com");
        assert!(url.starts_with("otpauth://totp/keyward:a%20b%40example.com?secret="), "{url}");
    }
}
