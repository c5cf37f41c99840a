//! Leak reports: a secret scanner (GitHub's secret scanning partner program, or any that posts
//! the same shape) tells keyward that secrets were found in public, and each one that is a
//! keyward key is stopped at once through the key operation (`keys::ops::report_leaked`: revoked,
//! or disabled by the workspace's policy; a replaced secret in its grace period has the grace
//! ended). The workspace's owners are emailed after the commits, one email per workspace and
//! report, sent in the background: a mail server that is down or slow costs the email, never
//! the revocation, and never holds the scanner's answer.

use std::collections::BTreeMap;

use diesel::prelude::*;

use super::Outbox;
use super::notices::{self, Mail};
use crate::audit::Actor;
use crate::db::schema::workspaces;
use crate::db::{Db, DbError};
use crate::keys::management::{self, ManagementToken, TokenError, TokenLeak, TokenRow};
use crate::keys::ops::{self, LeakOutcome, LeakReport};
use crate::keys::store::KeyRow;
use crate::keys::{ApiKey, KeyError, KeyHash};

/// One reported secret, as the scanner sent it.
#[derive(Clone, Debug, Default)]
pub struct Reported {
    /// The secret found: only hashed and, when it is a keyward key, looked up; never kept.
    pub token: String,
    pub token_type: String,
    pub url: Option<String>,
    pub source: Option<String>,
}

/// What happened to one reported secret, as the scanner is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A key's secret, and it was revoked now (a replaced secret's grace period ended counts:
    /// that secret is revoked).
    Revoked,
    /// A key's secret, and it was disabled now (the workspace's policy).
    Disabled,
    AlreadyRevoked,
    AlreadyDisabled,
    /// A well-formed keyward key that no key has.
    Unknown,
    /// Not a keyward key: wrong shape or checksum. Nothing was looked up.
    Malformed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Revoked => "revoked",
            Self::Disabled => "disabled",
            Self::AlreadyRevoked => "already_revoked",
            Self::AlreadyDisabled => "already_disabled",
            Self::Unknown => "unknown",
            Self::Malformed => "malformed",
        }
    }

    /// GitHub's label: a real key of this server (whatever state it was in), or not.
    pub fn label(self) -> &'static str {
        match self {
            Self::Unknown | Self::Malformed => "false_positive",
            _ => "true_positive",
        }
    }

    fn of(outcome: LeakOutcome) -> Self {
        match outcome {
            LeakOutcome::Revoked | LeakOutcome::GraceEnded => Self::Revoked,
            LeakOutcome::Disabled => Self::Disabled,
            LeakOutcome::AlreadyRevoked => Self::AlreadyRevoked,
            LeakOutcome::AlreadyDisabled => Self::AlreadyDisabled,
            LeakOutcome::Unknown => Self::Unknown,
        }
    }
}

/// One reported secret's answer: its SHA-256 (hex), never the secret.
#[derive(Clone, Debug)]
pub struct Answer {
    pub token_hash: String,
    pub outcome: Outcome,
}

/// A key changed by this report, for its workspace's email.
struct Stopped {
    key: KeyRow,
    outcome: LeakOutcome,
    url: Option<String>,
}

/// Handles a report: every secret in order, each key change its own transaction. Answers one
/// entry per reported secret, in order. A database failure stops the report there (the scanner
/// retries it; what was done stays done, and reports of it again answer `already_…`); emails
/// for what was done go out either way.
pub async fn handle(
    db: &Db,
    outbox: &Outbox,
    actor: &Actor,
    reported: Vec<Reported>,
) -> Result<Vec<Answer>, KeyError> {
    let mut answers = Vec::with_capacity(reported.len());
    let mut stopped: BTreeMap<i64, Vec<Stopped>> = BTreeMap::new();
    let mut tokens_stopped: BTreeMap<i64, Vec<(TokenRow, Option<String>)>> = BTreeMap::new();
    let mut failure = None;
    for r in reported {
        let token_hash = KeyHash::of(&r.token);
        let Ok(key) = ApiKey::parse(r.token.trim()) else {
            // A management token is a credential of ours too: revoked like a key.
            let outcome = match ManagementToken::parse(r.token.trim()) {
                Err(_) => Outcome::Malformed,
                Ok(token) => {
                    let report =
                        LeakReport { token_type: r.token_type, url: r.url.clone(), source: r.source };
                    match management::report_leaked(db, actor, &token, report).await {
                        Ok(TokenLeak::Revoked(row)) => {
                            tracing::warn!(
                                token_id = row.id,
                                workspace_id = row.workspace_id,
                                "a management token was reported leaked and revoked"
                            );
                            tokens_stopped.entry(row.workspace_id).or_default().push((row, r.url));
                            Outcome::Revoked
                        }
                        Ok(TokenLeak::AlreadyRevoked) | Err(TokenError::AlreadyRevoked { .. }) => {
                            Outcome::AlreadyRevoked
                        }
                        Ok(TokenLeak::Unknown) | Err(TokenError::NotFound) => Outcome::Unknown,
                        Err(TokenError::Db(e)) => {
                            failure = Some(KeyError::Db(e));
                            break;
                        }
                    }
                }
            };
            answers.push(Answer { token_hash: token_hash.as_str().to_owned(), outcome });
            continue;
        };
        let report = LeakReport { token_type: r.token_type, url: r.url.clone(), source: r.source };
        let leaked = match ops::report_leaked(db, actor, key.hash(), report).await {
            Ok(leaked) => leaked,
            // Deleted between the lookup and the change.
            Err(KeyError::NotFound) => ops::Leaked { outcome: LeakOutcome::Unknown, key: None },
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        if let (true, Some(key)) = (leaked.outcome.changed(), leaked.key) {
            tracing::warn!(key_id = key.id, workspace_id = key.workspace_id, outcome = ?leaked.outcome,
                "a key was reported leaked and stopped");
            stopped.entry(key.workspace_id).or_default().push(Stopped {
                key,
                outcome: leaked.outcome,
                url: r.url,
            });
        }
        answers.push(Answer {
            token_hash: token_hash.as_str().to_owned(),
            outcome: Outcome::of(leaked.outcome),
        });
    }
    if !stopped.is_empty() || !tokens_stopped.is_empty() {
        match mails(db, outbox, stopped, tokens_stopped).await {
            Ok(mails) => {
                let outbox = outbox.clone();
                tokio::spawn(async move {
                    for mail in mails {
                        mail.send(&outbox, "a leaked-key notice").await;
                    }
                });
            }
            Err(error) => {
                tracing::warn!(%error, "the owners of leaked keys could not be looked up to email them")
            }
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(answers),
    }
}

/// One email per workspace, to its owners (and one more for its management tokens).
async fn mails(
    db: &Db,
    outbox: &Outbox,
    stopped: BTreeMap<i64, Vec<Stopped>>,
    tokens: BTreeMap<i64, Vec<(TokenRow, Option<String>)>>,
) -> Result<Vec<Mail>, DbError> {
    let outbox = outbox.clone();
    db.run(move |conn| -> Result<Vec<Mail>, DbError> {
        let mut mails = Vec::new();
        // To the workspace's owners, with a link to where they act next.
        let mut to_owners = |conn: &mut _,
                             workspace_id: i64,
                             page: (&str, &str),
                             write: &dyn Fn(&str) -> (String, String)| {
            let workspace: String =
                workspaces::table.find(workspace_id).select(workspaces::name).first(conn)?;
            let to = notices::recipients(conn, workspace_id, None)?;
            if !to.is_empty() {
                let (subject, body) = write(&workspace);
                let link = outbox.link(page.1).map(|l| format!("{}: {l}\n\n", page.0)).unwrap_or_default();
                let footer = format!("{link}You get this email as an owner of {workspace}.\n");
                mails.push(Mail { to, subject, body: format!("{body}\n{footer}") });
            }
            Ok::<(), DbError>(())
        };
        for (workspace_id, tokens) in tokens {
            let page = ("The workspace's audit log", "/settings/audit-log");
            to_owners(conn, workspace_id, page, &|workspace| token_message(workspace, &tokens))?;
        }
        for (workspace_id, keys) in stopped {
            let page = ("The workspace's keys", "/settings/api-keys");
            to_owners(conn, workspace_id, page, &|workspace| message(workspace, &keys))?;
        }
        Ok(mails)
    })
    .await
}

/// The subject and body of a workspace's email about the management tokens one report revoked.
fn token_message(workspace: &str, tokens: &[(TokenRow, Option<String>)]) -> (String, String) {
    let subject = match tokens {
        [(one, _)] => {
            format!(
                "Management token \u{201c}{}\u{201d} of {workspace} was found in public and revoked",
                one.name
            )
        }
        _ => format!("{} management tokens of {workspace} were found in public and revoked", tokens.len()),
    };
    let mut body = format!(
        "A secret scanner reported management tokens of the workspace {workspace} found in public. \
         Whoever copied one could have changed every key of the workspace. keyward revoked them at once:\n\n"
    );
    for (token, url) in tokens {
        body.push_str(&format!("- \u{201c}{}\u{201d} ({})\n", token.name, token.masked()));
        if let Some(url) = url.as_deref().filter(|u| !u.is_empty()) {
            body.push_str(&format!("  found at {}\n", crate::text::truncate_chars(url, ops::LEAK_FIELD_MAX)));
        }
    }
    body.push_str("\nCheck the audit log for changes made with them, and give the scripts that used them a new token.\n");
    (subject, body)
}

/// The subject and body of a workspace's email about the keys one report stopped.
fn message(workspace: &str, keys: &[Stopped]) -> (String, String) {
    let subject = match keys {
        [one] => format!(
            "API key \u{201c}{}\u{201d} in {workspace} was found in public and {}",
            one.key.name,
            match one.outcome {
                LeakOutcome::Disabled => "disabled",
                LeakOutcome::GraceEnded => "its old secret revoked",
                _ => "revoked",
            }
        ),
        _ => format!("{} API keys in {workspace} were found in public and stopped", keys.len()),
    };
    let mut body = format!(
        "A secret scanner reported API keys of the workspace {workspace} found in public, where anyone may \
         have copied them. keyward stopped them at once:\n\n"
    );
    for k in keys {
        let done = match k.outcome {
            LeakOutcome::Disabled => {
                "disabled (the workspace's policy); enable it again only if the report was mistaken"
            }
            LeakOutcome::GraceEnded => {
                "its replaced secret, still in its grace period, stopped working; the current secret \
                 keeps working"
            }
            _ => "revoked",
        };
        body.push_str(&format!("- \u{201c}{}\u{201d} ({}): {done}\n", k.key.name, k.key.masked()));
        if let Some(url) = k.url.as_deref().filter(|u| !u.is_empty()) {
            body.push_str(&format!("  found at {}\n", crate::text::truncate_chars(url, ops::LEAK_FIELD_MAX)));
        }
    }
    body.push_str(
        "\nGive the services that used them a new key, remove the secret from where it was found, and check \
         the keys' usage for requests you do not recognise.\n",
    );
    (subject, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_read_as_the_scanner_expects() {
        assert_eq!(Outcome::of(LeakOutcome::GraceEnded), Outcome::Revoked);
        assert_eq!(Outcome::Revoked.label(), "true_positive");
        assert_eq!(Outcome::AlreadyDisabled.label(), "true_positive");
        assert_eq!(Outcome::Unknown.label(), "false_positive");
        assert_eq!(Outcome::Malformed.label(), "false_positive");
        assert_eq!(Outcome::AlreadyRevoked.as_str(), "already_revoked");
    }
}
