//! The one-time code that first-run setup asks for. A fresh instance prints it in its log at
//! start; only someone who can read that log (the operator) can create the first owner. Without
//! it, anyone who reaches a fresh instance first (or a page that makes their browser reach it,
//! through DNS rebinding) would own it.

use subtle::ConstantTimeEq;

/// Letters and digits that cannot be mistaken for one another (no 0/O, 1/I/L, U).
const ALPHABET: &[u8; 32] = b"ABCDEFGHJKMNPQRSTVWXYZ0123456789";
const GROUPS: usize = 4;
const GROUP_LEN: usize = 4;

/// 16 characters of a 32-letter alphabet: 80 random bits, shown as `ABCD-EFGH-JKMN-PQRS`.
pub struct SetupCode(String);

impl SetupCode {
    pub fn generate() -> Self {
        use rand::{Rng, TryRngCore};
        let mut bytes = [0u8; GROUPS * GROUP_LEN];
        rand::rngs::OsRng.unwrap_err().fill(&mut bytes);
        // 256 is a multiple of 32: the modulo keeps every letter equally likely.
        Self(bytes.iter().map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char).collect())
    }

    /// As the log prints it, in groups of four.
    pub fn display(&self) -> String {
        self.0.as_bytes().chunks(GROUP_LEN).map(|c| String::from_utf8_lossy(c)).collect::<Vec<_>>().join("-")
    }

    /// Whether `typed` is this code, in any case, with or without the dashes and spaces a
    /// person copies along. Compared in constant time.
    pub fn matches(&self, typed: &str) -> bool {
        let normal: String = typed
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        normal.len() == self.0.len() && bool::from(normal.as_bytes().ct_eq(self.0.as_bytes()))
    }
}

impl std::fmt::Debug for SetupCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SetupCode([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_in_groups_and_match_as_people_type_them() {
        let code = SetupCode::generate();
        let shown = code.display();
        assert_eq!(shown.len(), 19, "{shown}");
        assert_eq!(shown.matches('-').count(), 3);
        assert!(code.matches(&shown));
        assert!(code.matches(&shown.to_lowercase().replace('-', " ")));
        assert!(code.matches(&format!("  {}\n", shown.replace('-', ""))));
        assert!(!code.matches(""));
        assert!(!code.matches(&shown[..18]));
        assert!(!SetupCode::generate().matches(&shown), "two codes differ (80 random bits)");
        assert!(!format!("{code:?}").contains(&code.0));
    }
}
