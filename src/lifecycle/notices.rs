//! What every notice about a key shares: claiming it once across instances (`key_notices`),
//! who is told (the key's creator while a member, and the workspace's owners), the system
//! actor the audit log shows, and sending the emails after the commit.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::Outbox;
use crate::accounts::{Role, members};
use crate::audit::Actor;
use crate::db::DbConnection;
use crate::db::schema::key_notices;
use crate::mail::{self, Message};

/// The kinds of notice, as stored in `key_notices.kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Expiring7d,
    Expiring1d,
    Expired,
    UnusedWarning,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expiring7d => "expiring_7d",
            Self::Expiring1d => "expiring_1d",
            Self::Expired => "expired",
            Self::UnusedWarning => "unused_warning",
        }
    }
}

/// The actor of scheduled changes: no user, shown as `system`.
pub fn system() -> Actor {
    Actor { user_id: None, label: "system".to_owned(), ip: None, user_agent: None }
}

/// Records the notice `kind` about `key_id` concerning the moment `about`; true when this call
/// recorded it, false when it already was (by this instance earlier, or by another). Run it in
/// the transaction that writes the notice's event and audit entry: a concurrent claimer waits
/// for that transaction and then finds the row. The multi-connection DSL has no ON CONFLICT,
/// so each backend's own connection runs it.
pub fn claim(
    conn: &mut DbConnection,
    key_id: i64,
    kind: Kind,
    about: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    macro_rules! insert {
        ($c:expr) => {
            diesel::insert_into(key_notices::table)
                .values((
                    key_notices::key_id.eq(key_id),
                    key_notices::kind.eq(kind.as_str()),
                    key_notices::about.eq(about),
                    key_notices::sent_at.eq(now),
                ))
                .on_conflict_do_nothing()
                .execute($c)
        };
    }
    let inserted = match conn {
        DbConnection::Postgresql(c) => insert!(c),
        DbConnection::Sqlite(c) => insert!(c),
    }?;
    Ok(inserted == 1)
}

/// When the notice was recorded, if it was.
pub fn sent_at(
    conn: &mut DbConnection,
    key_id: i64,
    kind: Kind,
    about: NaiveDateTime,
) -> QueryResult<Option<NaiveDateTime>> {
    key_notices::table
        .find((key_id, kind.as_str(), about))
        .select(key_notices::sent_at)
        .first(conn)
        .optional()
}

/// Who is told about a key: its creator while still a member of the workspace, and every
/// owner, each address once (owners first, then by email).
pub fn recipients(
    conn: &mut DbConnection,
    workspace_id: i64,
    created_by: Option<i64>,
) -> QueryResult<Vec<String>> {
    let members = members::list(conn, workspace_id)?;
    let mut to: Vec<String> = members
        .iter()
        .filter(|m| m.role == Role::Owner || Some(m.user_id) == created_by)
        .map(|m| m.email.clone())
        .collect();
    to.dedup();
    Ok(to)
}

/// What the audit entry says about the emails: to whom, or that this server sends none.
pub fn told(outbox: &Outbox, to: &[String]) -> String {
    match (&outbox.mailer, to.is_empty()) {
        (None, _) => "no email (this server has no SMTP server configured)".to_owned(),
        (Some(_), true) => "no one to email".to_owned(),
        (Some(_), false) => format!("emailed to {}", to.join(", ")),
    }
}

/// One email to each recipient, after the notice's transaction has committed.
pub struct Mail {
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
}

impl Mail {
    /// Sends it to each recipient (nothing without a mail server); a failure costs that email.
    pub async fn send(self, outbox: &Outbox, what: &'static str) {
        for to in self.to {
            let (subject, body) = (self.subject.clone(), self.body.clone());
            mail::deliver(outbox.mailer.as_ref(), what, move || Message { to, subject, body }).await;
        }
    }
}

/// The closing lines every notice email ends with.
pub fn footer(outbox: &Outbox, workspace_name: &str) -> String {
    let link = outbox
        .link("/settings/api-keys")
        .map(|l| format!("The workspace's keys: {l}\n\n"))
        .unwrap_or_default();
    format!(
        "{link}You get this email as an owner of {workspace_name} or as the key's creator. Each \
         notice is sent once.\n"
    )
}
