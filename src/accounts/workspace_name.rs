//! A workspace's display name.

use std::fmt;

use crate::text::{NameProblem, display_name};

/// Longest workspace name, in characters.
pub const MAX_WORKSPACE_NAME: usize = 64;

/// A trimmed, non-empty name of at most [`MAX_WORKSPACE_NAME`] characters, with no control
/// characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkspaceName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkspaceNameError {
    #[error("Enter a name for the workspace, such as your team or product.")]
    Empty,
    #[error("Use at most 64 characters.")]
    TooLong,
    #[error("The name cannot contain line breaks or control characters.")]
    ControlCharacter,
}

impl WorkspaceName {
    pub fn parse(raw: &str) -> Result<Self, WorkspaceNameError> {
        match display_name(raw, MAX_WORKSPACE_NAME) {
            Ok(name) => Ok(Self(name.to_owned())),
            Err(NameProblem::Empty) => Err(WorkspaceNameError::Empty),
            Err(NameProblem::TooLong(_)) => Err(WorkspaceNameError::TooLong),
            Err(NameProblem::ControlCharacter) => Err(WorkspaceNameError::ControlCharacter),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for WorkspaceName {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WorkspaceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_names_are_checked() {
        assert_eq!(WorkspaceName::parse("  Acme  ").unwrap().as_str(), "Acme");
        assert!(WorkspaceName::parse(" ").is_err());
        assert!(WorkspaceName::parse(&"x".repeat(65)).is_err());
        assert_eq!(WorkspaceName::parse("a\nb"), Err(WorkspaceNameError::ControlCharacter));
    }
}
