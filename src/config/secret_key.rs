//! The secret the cookie key is derived from. It never lives in the database: with it, a copy
//! of the database would let anyone forge a session cookie or read a key waiting in a reveal
//! cookie. It comes from `KEYWARD_SECRET_KEY_FILE` (a container secret, a file only keyward's
//! user can read), `KEYWARD_SECRET_KEY`, or, on SQLite, a file generated beside the database.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

use super::ConfigError;

/// Shortest accepted secret, in characters.
pub const MIN_SECRET_KEY_CHARS: usize = 32;

/// Cookie key material of at least [`MIN_SECRET_KEY_CHARS`] characters (`Debug` shows
/// `[REDACTED]`).
#[derive(Clone, Debug)]
pub struct SecretKey(SecretString);

impl SecretKey {
    /// `setting` names where the text came from, for the error line.
    pub fn parse(text: &str, setting: &'static str) -> Result<Self, ConfigError> {
        if text.chars().count() < MIN_SECRET_KEY_CHARS {
            return Err(ConfigError::SecretKeyTooShort { setting });
        }
        Ok(Self(text.into()))
    }

    /// Reads the secret from a file: its whole content, without the trailing newline an editor
    /// or `echo` adds. Warns when others than its owner may read it.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let unreadable =
            |reason: String| ConfigError::SecretKeyFile { path: path.display().to_string(), reason };
        let text = std::fs::read_to_string(path).map_err(|e| unreadable(e.to_string()))?;
        warn_if_shared(path);
        Self::parse(text.trim_end_matches(['\n', '\r']), "KEYWARD_SECRET_KEY_FILE")
    }

    /// The secret kept beside a SQLite database, created (mode 0600) on first start. Of two
    /// processes starting at once, one creates it and the other reads it back.
    pub fn beside_database(database: &Path) -> Result<(Self, PathBuf), ConfigError> {
        let path = Self::path_beside(database);
        let fresh = crate::text::random_token();
        let created = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path);
        match created {
            Ok(mut file) => {
                let written = file.write_all(format!("{fresh}\n").as_bytes()).and_then(|()| file.sync_all());
                written.map_err(|e| ConfigError::SecretKeyFile {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
                tracing::info!(path = %path.display(), "generated the cookie secret");
                Ok((Self(fresh.into()), path))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // A racing start may have created it a moment ago and not written it yet.
                for _ in 0..50 {
                    if std::fs::metadata(&path).is_ok_and(|m| m.len() > 0) {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Ok((Self::from_file(&path)?, path))
            }
            Err(e) => {
                Err(ConfigError::SecretKeyFile { path: path.display().to_string(), reason: e.to_string() })
            }
        }
    }

    /// `keyward.db` → `keyward.secret-key`, in the database's folder. Not `keyward.db.*`, so a
    /// backup made with `cp keyward.db*` does not carry it along.
    pub fn path_beside(database: &Path) -> PathBuf {
        let stem = database.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let stem = if stem.is_empty() { "keyward".to_owned() } else { stem };
        database.with_file_name(format!("{stem}.secret-key"))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

fn warn_if_shared(path: &Path) {
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{:o}", meta.permissions().mode() & 0o777),
            "the cookie secret file can be read by other users: chmod 600 it"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_secrets_are_refused_and_debug_hides_them() {
        assert!(SecretKey::parse("short", "KEYWARD_SECRET_KEY").is_err());
        let key = SecretKey::parse("a cookie secret of thirty-two characters", "KEYWARD_SECRET_KEY").unwrap();
        assert!(!format!("{key:?}").contains("cookie secret"));
    }

    #[test]
    fn the_generated_file_is_private_and_read_back_alike() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("keyward.db");
        let (first, path) = SecretKey::beside_database(&db).unwrap();
        assert_eq!(path, dir.path().join("keyward.secret-key"));
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let (second, _) = SecretKey::beside_database(&db).unwrap();
        assert_eq!(first.expose(), second.expose());
        assert!(first.expose().len() >= MIN_SECRET_KEY_CHARS);
    }

    #[test]
    fn a_file_loses_only_its_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "  a cookie secret of thirty-two characters\n").unwrap();
        assert_eq!(
            SecretKey::from_file(&path).unwrap().expose(),
            "  a cookie secret of thirty-two characters"
        );
        std::fs::write(&path, "short\n").unwrap();
        assert!(SecretKey::from_file(&path).unwrap_err().to_string().contains("KEYWARD_SECRET_KEY_FILE"));
        let missing = SecretKey::from_file(&dir.path().join("none")).unwrap_err().to_string();
        assert!(missing.contains("cannot read the cookie secret"), "{missing}");
    }
}
