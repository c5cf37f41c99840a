//! A key's display name.

use std::fmt;

use crate::text::{NameProblem, display_name};

/// Longest accepted name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// A trimmed, non-empty name of at most 64 characters, with no control characters.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyNameError {
    #[error("Enter a name for the key.")]
    Empty,
    #[error("Use at most 64 characters (this name has {0}).")]
    TooLong(usize),
    #[error("The name cannot contain line breaks or control characters.")]
    ControlCharacter,
}

impl KeyName {
    pub fn parse(raw: &str) -> Result<Self, KeyNameError> {
        match display_name(raw, MAX_NAME_CHARS) {
            Ok(name) => Ok(Self(name.to_owned())),
            Err(NameProblem::Empty) => Err(KeyNameError::Empty),
            Err(NameProblem::TooLong(chars)) => Err(KeyNameError::TooLong(chars)),
            Err(NameProblem::ControlCharacter) => Err(KeyNameError::ControlCharacter),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// Longest accepted description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 500;

/// A note on where a key is used: trimmed, possibly empty, at most 500 characters; line
/// breaks and tabs are kept, other control characters refused.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyDescription(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyDescriptionError {
    #[error("Use at most 500 characters (this description has {0}).")]
    TooLong(usize),
    #[error("The description cannot contain control characters.")]
    ControlCharacter,
}

impl KeyDescription {
    pub fn parse(raw: &str) -> Result<Self, KeyDescriptionError> {
        // Browsers send line breaks as CRLF; store them as LF.
        let text = raw.trim().replace("\r\n", "\n");
        if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return Err(KeyDescriptionError::ControlCharacter);
        }
        match text.chars().count() {
            n if n > MAX_DESCRIPTION_CHARS => Err(KeyDescriptionError::TooLong(n)),
            _ => Ok(Self(text)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_keep_line_breaks_and_refuse_the_rest() {
        assert_eq!(KeyDescription::parse("  web-1\r\nweb-2 ").unwrap().as_str(), "web-1\nweb-2");
        assert_eq!(KeyDescription::parse("").unwrap().as_str(), "");
        assert_eq!(KeyDescription::parse("a\u{7}"), Err(KeyDescriptionError::ControlCharacter));
        assert_eq!(KeyDescription::parse(&"x".repeat(501)), Err(KeyDescriptionError::TooLong(501)));
    }

    #[test]
    fn names_are_trimmed_and_kept_exactly_otherwise() {
        assert_eq!(KeyName::parse("  CI deploy  ").unwrap().as_str(), "CI deploy");
        let odd = "<img src=x onerror=alert(1)> ' OR 1=1 -- \u{202E}🙂";
        assert_eq!(KeyName::parse(odd).unwrap().as_str(), odd);
    }

    #[test]
    fn empty_long_and_control_names_are_refused() {
        assert_eq!(KeyName::parse("   "), Err(KeyNameError::Empty));
        assert!(KeyName::parse(&"é".repeat(64)).is_ok());
        assert_eq!(KeyName::parse(&"é".repeat(65)), Err(KeyNameError::TooLong(65)));
        assert_eq!(KeyName::parse("a\nb"), Err(KeyNameError::ControlCharacter));
    }
}
