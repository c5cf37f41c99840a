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

#[cfg(test)]
mod tests {
    use super::*;

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
