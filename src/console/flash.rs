//! One-shot messages shown on the page after a redirect ("Key revoked.").

use actix_session::Session;
use serde::{Deserialize, Serialize};

use super::session::FLASH;

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Level {
    Success,
    Error,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Flash {
    pub level: Level,
    pub message: String,
}

impl Flash {
    pub fn css_class(&self) -> &'static str {
        match self.level {
            Level::Success => "flash-success",
            Level::Error => "flash-error",
        }
    }

    /// Spoken by screen readers before the message, since colour alone says nothing.
    pub fn label(&self) -> &'static str {
        match self.level {
            Level::Success => "Done:",
            Level::Error => "Error:",
        }
    }
}

pub fn push(session: &Session, level: Level, message: impl Into<String>) {
    let mut all: Vec<Flash> = session.get(FLASH).ok().flatten().unwrap_or_default();
    all.push(Flash { level, message: message.into() });
    // A failure here only loses a courtesy message.
    let _ = session.insert(FLASH, all);
}

pub fn take(session: &Session) -> Vec<Flash> {
    match session.remove_as::<Vec<Flash>>(FLASH) {
        Some(Ok(v)) => v,
        _ => Vec::new(),
    }
}
