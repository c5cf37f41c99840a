//! Text rules shared by more than one layer.

/// The form a name and a search are compared in: lower-cased, Unicode-aware ("Ärger" →
/// "ärger"). Key names are stored in this form beside the name (`api_keys.search_name`,
/// `audit_events.key_search_name`), so the databases never fold case themselves (SQLite's
/// `lower()` knows only ASCII; PostgreSQL's depends on the locale).
pub fn search_form(text: &str) -> String {
    text.to_lowercase()
}

/// 32 random bytes from the OS, base64url: for CSRF tokens and session ids.
pub fn random_token() -> String {
    use base64::Engine;
    use rand::{Rng, TryRngCore};
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.unwrap_err().fill(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// How a random token is stored (session ids, invitation and password-reset links): SHA-256,
/// hex. Tokens are 256 random bits, so a fast hash is enough (as for API keys): no salt is
/// needed to stop guessing, and a copy of the database names no token a browser could present.
pub fn token_hash(token: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// At most the first `max_chars` characters of `s` (cut on a character boundary): for text an
/// outsider sends that is kept (a leak report's URL), so it cannot bloat a row.
pub fn truncate_chars(s: &str, max_chars: usize) -> &str {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// `22 Dec 2026`: a day as people read it in messages and hints (the domain's error messages
/// and the console's pages write days the same way).
pub fn day_in_words(d: chrono::NaiveDate) -> String {
    d.format("%-d %b %Y").to_string()
}

/// `2026-12-22 15:30:00 UTC`: a moment as the audit log and hover titles write it.
pub fn exact_utc(t: chrono::NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// What is wrong with a display name (of a key, a workspace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameProblem {
    Empty,
    /// The trimmed name's length in characters.
    TooLong(usize),
    ControlCharacter,
}

/// A display name as people type it: trimmed, non-empty, at most `max_chars` characters, and
/// no line breaks or other control characters.
pub fn display_name(raw: &str, max_chars: usize) -> Result<&str, NameProblem> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(NameProblem::Empty);
    }
    let chars = trimmed.chars().count();
    if chars > max_chars {
        return Err(NameProblem::TooLong(chars));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(NameProblem::ControlCharacter);
    }
    Ok(trimmed)
}
