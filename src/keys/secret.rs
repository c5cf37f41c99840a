//! The key itself: `kw_live_` (or `kw_test_` for a test key) + 32 base62 random characters + 6
//! base62 characters of CRC32 (of the prefix and the random part).
//!
//! The checksum lets the verifier throw out typos and garbage without a database lookup; the
//! prefix lets secret scanners recognise a leaked key, and tells a service which environment a
//! key is for. At rest only [`KeyHash`] (SHA-256 of the whole key), the prefix and the last four
//! characters are kept; a key's environment is read from its stored prefix.

use std::fmt;

use rand::{Rng, TryRngCore};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// The prefix of live keys.
pub const LIVE_PREFIX: &str = "kw_live_";
/// The prefix of test keys: the same length as [`LIVE_PREFIX`], so both make keys of one length.
pub const TEST_PREFIX: &str = "kw_test_";
/// Random characters after the prefix: 32 × log2(62) ≈ 190.5 bits.
pub const RANDOM_LEN: usize = 32;
/// Base62 characters of the CRC32 (62^6 > 2^32).
pub const CHECKSUM_LEN: usize = 6;
/// Total length of a key (live or test).
pub const KEY_LEN: usize = LIVE_PREFIX.len() + RANDOM_LEN + CHECKSUM_LEN;

/// A full API key. Exists in memory only between generation and the reveal response, and
/// while a presented key is being checked; the memory is wiped when it is dropped. Its
/// `Debug` never prints the secret, and it is read only through [`ApiKey::expose`].
#[derive(Clone)]
pub struct ApiKey(SecretString);

/// Why a presented string is not a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MalformedKey {
    #[error("the key has the wrong length")]
    Length,
    #[error("the key does not start with kw_live_ or kw_test_")]
    Prefix,
    #[error("the key contains characters outside A-Z, a-z, 0-9")]
    Alphabet,
    #[error("the key's checksum does not match: it was mistyped or truncated")]
    Checksum,
}

/// What a key is for: production traffic, or a service's sandbox. Chosen when the key is made
/// and part of its secret (the prefix), so it never changes, regeneration included.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Environment {
    #[default]
    Live,
    Test,
}

impl Environment {
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Live => LIVE_PREFIX,
            Self::Test => TEST_PREFIX,
        }
    }

    /// `live` or `test`: the form value, and what the verifier's answers say.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Test => "test",
        }
    }

    /// `Live` or `Test`, as pages name it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Live => "Live",
            Self::Test => "Test",
        }
    }

    /// The environment of a stored key, from its `prefix` column. Only the two prefixes are
    /// ever stored; anything else reads as live, which gives no sandbox a real key's traffic.
    pub fn of_prefix(prefix: &str) -> Self {
        if prefix == TEST_PREFIX { Self::Test } else { Self::Live }
    }

    /// The create form's choice: `live` (or nothing: the default) or `test`.
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim() {
            "" | "live" => Some(Self::Live),
            "test" => Some(Self::Test),
            _ => None,
        }
    }
}

impl ApiKey {
    /// A fresh key for `env` from the operating system's CSPRNG.
    pub fn generate(env: Environment) -> Self {
        Self(random_secret(env.prefix()))
    }

    /// Accepts exactly the shape [`ApiKey::generate`] makes, with a matching checksum.
    pub fn parse(raw: &str) -> Result<Self, MalformedKey> {
        check_shape(raw, &[LIVE_PREFIX, TEST_PREFIX])?;
        Ok(Self(raw.into()))
    }

    /// The whole key, for the one response that reveals it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn hash(&self) -> KeyHash {
        KeyHash::of(self.expose())
    }

    pub fn prefix(&self) -> &'static str {
        self.environment().prefix()
    }

    pub fn environment(&self) -> Environment {
        Environment::of_prefix(&self.expose()[..LIVE_PREFIX.len()])
    }

    /// The last four characters, kept for the masked display.
    pub fn last4(&self) -> &str {
        &self.expose()[KEY_LEN - 4..]
    }

    pub fn masked(&self) -> String {
        masked(self.prefix(), self.last4())
    }
}

/// In constant time: two keys compare without telling how much of them matched.
impl PartialEq for ApiKey {
    fn eq(&self, other: &Self) -> bool {
        self.expose().as_bytes().ct_eq(other.expose().as_bytes()).into()
    }
}

impl Eq for ApiKey {}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({})", self.masked())
    }
}

/// `kw_live_…x7Qa`: what tables, logs and audit entries show instead of a key.
pub fn masked(prefix: &str, last4: &str) -> String {
    format!("{prefix}…{last4}")
}

/// SHA-256 of a whole key, as lowercase hex: the only form of the secret that is stored.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyHash(String);

impl KeyHash {
    pub fn of(key: &str) -> Self {
        // Into a buffer, not `hex::encode`: that builds the string a char at a time, which
        // showed in the verifier's profile (every request hashes its key).
        let mut text = [0u8; 64];
        hex::encode_to_slice(Sha256::digest(key.as_bytes()), &mut text).expect("32 bytes make 64 hex digits");
        Self(std::str::from_utf8(&text).expect("hex digits are ASCII").to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `prefix` (eight characters) + [`RANDOM_LEN`] base62 characters from the operating system's
/// CSPRNG + their checksum: the shape of API keys and of management tokens.
pub(crate) fn random_secret(prefix: &str) -> SecretString {
    debug_assert_eq!(prefix.len(), LIVE_PREFIX.len());
    // Straight from the OS: a failing OS random source is not something to recover from.
    let mut rng = rand::rngs::OsRng.unwrap_err();
    let mut s = String::with_capacity(KEY_LEN);
    s.push_str(prefix);
    for _ in 0..RANDOM_LEN {
        // random_range is uniform over 0..62 (it rejects rather than taking a biased modulo).
        s.push(BASE62[rng.random_range(0..BASE62.len())] as char);
    }
    let crc = checksum(&s);
    s.push_str(&crc);
    s.into()
}

/// Whether `raw` has exactly the shape [`random_secret`] makes with one of `prefixes`, with a
/// matching checksum.
pub(crate) fn check_shape(raw: &str, prefixes: &[&str]) -> Result<(), MalformedKey> {
    if raw.len() != KEY_LEN {
        return Err(MalformedKey::Length);
    }
    // Before any slicing: a multi-byte character could straddle the split point.
    if !raw.is_ascii() {
        return Err(MalformedKey::Alphabet);
    }
    let (body, crc) = raw.split_at(KEY_LEN - CHECKSUM_LEN);
    let Some(random) = prefixes.iter().find_map(|p| body.strip_prefix(p)) else {
        return Err(MalformedKey::Prefix);
    };
    if !random.bytes().chain(crc.bytes()).all(|b| b.is_ascii_alphanumeric()) {
        return Err(MalformedKey::Alphabet);
    }
    // Not secret: the checksum is public information derived from the key itself.
    if checksum(body) != crc {
        return Err(MalformedKey::Checksum);
    }
    Ok(())
}

/// CRC32 of `text`, as six base62 digits, most significant first, zero-padded.
fn checksum(text: &str) -> String {
    let mut n = crc32fast::hash(text.as_bytes()) as u64;
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out.to_vec()).expect("base62 is ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_has_the_documented_shape() {
        let key = ApiKey::generate(Environment::Live);
        let s = key.expose();
        assert_eq!(s.len(), 8 + 32 + 6);
        assert!(s.starts_with("kw_live_"));
        assert!(s[8..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(ApiKey::parse(s).unwrap(), key);
    }

    #[test]
    fn a_test_key_has_the_same_shape_with_its_own_prefix() {
        let key = ApiKey::generate(Environment::Test);
        let s = key.expose();
        assert_eq!(s.len(), KEY_LEN);
        assert!(s.starts_with("kw_test_"));
        assert!(s[8..].bytes().all(|b| b.is_ascii_alphanumeric()));
        let parsed = ApiKey::parse(s).unwrap();
        assert_eq!(parsed, key);
        assert_eq!(parsed.environment(), Environment::Test);
        assert_eq!(parsed.prefix(), TEST_PREFIX);
        assert_eq!(key.masked(), format!("kw_test_…{}", key.last4()));
        assert_eq!(ApiKey::generate(Environment::Live).environment(), Environment::Live);
        // A test key relabelled as live fails its checksum too.
        assert_eq!(ApiKey::parse(&s.replacen("kw_test_", "kw_live_", 1)), Err(MalformedKey::Checksum));
    }

    #[test]
    fn environments_read_from_prefixes_and_form_values() {
        assert_eq!(Environment::of_prefix("kw_test_"), Environment::Test);
        assert_eq!(Environment::of_prefix("kw_live_"), Environment::Live);
        assert_eq!(Environment::parse(""), Some(Environment::Live));
        assert_eq!(Environment::parse("live"), Some(Environment::Live));
        assert_eq!(Environment::parse("test"), Some(Environment::Test));
        assert_eq!(Environment::parse("prod"), None);
        for env in [Environment::Live, Environment::Test] {
            assert_eq!(Environment::parse(env.as_str()), Some(env));
            assert_eq!(Environment::of_prefix(env.prefix()), env);
        }
    }

    #[test]
    fn keys_differ_each_time() {
        let a = ApiKey::generate(Environment::Live);
        let b = ApiKey::generate(Environment::Live);
        assert_ne!(a, b);
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn checksum_is_zero_padded_base62_of_crc32() {
        // CRC32("") is 0, so the checksum is all zero digits.
        assert_eq!(checksum(""), "000000");
        let crc = crc32fast::hash(b"kw_live_abc") as u64;
        let digits = checksum("kw_live_abc");
        let back = digits
            .bytes()
            .fold(0u64, |acc, b| acc * 62 + BASE62.iter().position(|&c| c == b).unwrap() as u64);
        assert_eq!(back, crc);
    }

    #[test]
    fn every_single_character_change_is_rejected() {
        let key = ApiKey::generate(Environment::Live);
        let s = key.expose().to_owned();
        for i in 0..s.len() {
            for replacement in [b'0', b'a', b'Z', b'_', b'!'] {
                let mut bytes = s.clone().into_bytes();
                if bytes[i] == replacement {
                    continue;
                }
                bytes[i] = replacement;
                let changed = String::from_utf8(bytes).unwrap();
                assert!(ApiKey::parse(&changed).is_err(), "accepted {changed}");
            }
        }
    }

    #[test]
    fn malformed_inputs_say_why() {
        let key = ApiKey::generate(Environment::Live);
        let s = key.expose();
        assert_eq!(ApiKey::parse(""), Err(MalformedKey::Length));
        assert_eq!(ApiKey::parse(&s[..s.len() - 1]), Err(MalformedKey::Length));
        assert_eq!(ApiKey::parse(&s.replacen("kw_live_", "kw_prod_", 1)), Err(MalformedKey::Prefix));
        // The checksum covers the prefix: a live key relabelled as a test key is refused.
        assert_eq!(ApiKey::parse(&s.replacen("kw_live_", "kw_test_", 1)), Err(MalformedKey::Checksum));
        let mut bad = s.to_owned();
        bad.replace_range(10..11, "-");
        assert_eq!(ApiKey::parse(&bad), Err(MalformedKey::Alphabet));
        let mut swapped = s.to_owned();
        let c = if &s[10..11] == "A" { "B" } else { "A" };
        swapped.replace_range(10..11, c);
        assert_eq!(ApiKey::parse(&swapped), Err(MalformedKey::Checksum));
        // Multi-byte characters must not panic on the length split (found by the property test).
        assert!(ApiKey::parse(&"é".repeat(23)).is_err());
        assert_eq!(
            ApiKey::parse(&format!("kw_live_{}é{}", "a".repeat(31), "b".repeat(5))),
            Err(MalformedKey::Alphabet)
        );
    }

    #[test]
    fn the_hash_is_sha256_hex_and_debug_hides_the_secret() {
        let key = ApiKey::generate(Environment::Live);
        assert_eq!(key.hash().as_str().len(), 64);
        assert_eq!(
            KeyHash::of("abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let debug = format!("{key:?}");
        assert!(!debug.contains(&key.expose()[8..40]));
        assert!(debug.contains(key.last4()));
        assert_eq!(key.masked(), format!("kw_live_…{}", key.last4()));
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Arbitrary text never panics the parser, and only well-formed keys get through.
        #[test]
        fn the_parser_never_panics_and_accepts_only_checksummed_keys(s in "\\PC{0,80}") {
            if let Ok(k) = ApiKey::parse(&s) {
                prop_assert_eq!(k.expose().len(), KEY_LEN);
                prop_assert_eq!(checksum(&s[..KEY_LEN - CHECKSUM_LEN]), &s[KEY_LEN - CHECKSUM_LEN..]);
            }
        }

        /// Near-misses shaped like keys (right prefix, right alphabet, right length) fail on
        /// the checksum unless they happen to carry the right one.
        #[test]
        fn key_shaped_strings_need_the_checksum(
            test in any::<bool>(),
            body in "[0-9A-Za-z]{32}",
            crc in "[0-9A-Za-z]{6}",
        ) {
            let prefix = if test { TEST_PREFIX } else { LIVE_PREFIX };
            let candidate = format!("{prefix}{body}{crc}");
            let expected = checksum(&format!("{prefix}{body}"));
            prop_assert_eq!(ApiKey::parse(&candidate).is_ok(), crc == expected);
        }

        /// Every generated key parses, and changing any one character to any other printable
        /// ASCII character is rejected.
        #[test]
        fn one_character_changes_are_always_rejected(
            test in any::<bool>(),
            pos in 0usize..KEY_LEN,
            c in 0x21u8..0x7f,
        ) {
            let key = ApiKey::generate(if test { Environment::Test } else { Environment::Live });
            prop_assert!(ApiKey::parse(key.expose()).is_ok());
            let mut bytes = key.expose().as_bytes().to_vec();
            prop_assume!(bytes[pos] != c);
            bytes[pos] = c;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(ApiKey::parse(&changed).is_err());
        }
    }
}
