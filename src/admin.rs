//! `keyward admin create`: accounts for scripted installs, without a browser; and
//! `keyward admin reset-password`: the operator's way back into an account.
//!
//! The password is read from standard input (one line) or, when standard input is a terminal,
//! from a prompt that does not echo. It is never taken from the command line, where other
//! users could read it in the process list and shells keep it in their history.
//!
//! What it does with `--email E --workspace W --role R`:
//! - the user E is created if there is no account for E yet (the password is then required);
//!   an existing account keeps its password and no password is read;
//! - no workspace is named W: it is created, with E as its owner (`--role` must be `owner`,
//!   since a workspace needs one);
//! - exactly one workspace is named W: E is added to it with role R (default owner); if E is
//!   already a member with that role nothing changes, so the command can be re-run safely;
//! - several workspaces are named W: refused, since it is unclear which one is meant.

use std::io::{BufRead, IsTerminal, Write};

use chrono::Utc;
use clap::Args;

use crate::accounts::WorkspaceName;
use crate::accounts::password::hash_password;
use crate::accounts::{Email, Password, Role, members, store};
use crate::audit::{self, Actor, Event};
use crate::config::Settings;
use crate::db::{Db, DbConnection, DbError};
use crate::startup::StartError;

/// Why `admin create` did nothing. Each reads as the one line the command prints.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// An argument or the password was refused; the message names which and why.
    #[error("{0}")]
    Invalid(String),
    /// The change does not fit the database as it stands.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Start(#[from] StartError),
}

impl From<diesel::result::Error> for AdminError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e.into())
    }
}

#[derive(Args, Clone, Debug)]
pub struct CreateArgs {
    /// The user's email address (created if it has no account yet).
    #[arg(long)]
    pub email: String,
    /// The workspace's name (created if no workspace has this name).
    #[arg(long)]
    pub workspace: String,
    /// owner, admin or viewer.
    #[arg(long, default_value = "owner")]
    pub role: String,
}

/// Runs `admin create` against an open, migrated database. `read_password` is called only
/// when the account has to be created.
pub fn create(
    db: &Db,
    args: &CreateArgs,
    read_password: impl FnOnce() -> Result<String, AdminError>,
) -> Result<String, AdminError> {
    let invalid = |what: &str, e: &dyn std::fmt::Display| AdminError::Invalid(format!("{what}: {e}"));
    let email = Email::parse(&args.email).map_err(|e| invalid("--email", &e))?;
    let workspace = WorkspaceName::parse(&args.workspace).map_err(|e| invalid("--workspace", &e))?;
    let role: Role =
        args.role.trim().parse().map_err(|()| {
            AdminError::Invalid(format!("--role `{}`: use owner, admin or viewer", args.role))
        })?;

    let existing = store::find_user_by_email(&mut *db.get()?, email.as_str())?;
    let hash = match existing {
        Some(_) => None,
        None => {
            let password =
                Password::choose(&read_password()?, email.as_str()).map_err(|e| invalid("password", &e))?;
            Some(hash_password(&password))
        }
    };
    let now = Utc::now().naive_utc();
    let actor =
        Actor { user_id: None, label: "system (keyward admin create)".into(), ip: None, user_agent: None };
    db.write_blocking(|conn: &mut DbConnection| -> Result<String, AdminError> {
        let (user_id, new_user) = match store::find_user_by_email(conn, email.as_str())? {
            Some(u) => (u.id, false),
            None => match &hash {
                Some(h) => (store::insert_user(conn, email.as_str(), h, now)?, true),
                None => {
                    return Err(AdminError::Refused(
                        "the account changed while being created; run the command again".into(),
                    ));
                }
            },
        };
        let who = if new_user { format!("created {email}") } else { format!("{email} (existing account, password unchanged)") };
        let named = members::workspaces_named(conn, &workspace)?;
        match named.as_slice() {
            [] => {
                if role != Role::Owner {
                    return Err(AdminError::Refused(format!(
                        "no workspace is named \u{201c}{workspace}\u{201d}; a new workspace's first member must be its owner (--role owner)"
                    )));
                }
                let ws = store::insert_workspace(conn, &workspace, now)?;
                store::insert_membership(conn, user_id, ws, Role::Owner, now)?;
                let event = Event {
                    workspace_id: Some(ws),
                    action: "workspace.created",
                    key: None,
                    details: format!("Workspace \u{201c}{workspace}\u{201d} and its owner {email}, from the command line"),
                };
                audit::record(conn, &actor, event, now)?;
                Ok(format!("{who}; created workspace \u{201c}{workspace}\u{201d} (id {ws}) with {email} as owner"))
            }
            [ws] => {
                let ws = *ws;
                if let Some(m) = members::find(conn, ws, user_id)? {
                    return if m.role == role {
                        Ok(format!("{email} is already {role} in \u{201c}{workspace}\u{201d}: nothing changed"))
                    } else {
                        Err(AdminError::Refused(format!(
                            "{email} is already {} in \u{201c}{workspace}\u{201d}; change roles in Settings \u{2192} Members",
                            m.role
                        )))
                    };
                }
                members::lock_workspace(conn, ws)?;
                store::insert_membership(conn, user_id, ws, role, now)?;
                let event = Event {
                    workspace_id: Some(ws),
                    action: "member.added",
                    key: None,
                    details: format!("Added {email} as {role} (from the command line)"),
                };
                audit::record(conn, &actor, event, now)?;
                Ok(format!("{who}; added to workspace \u{201c}{workspace}\u{201d} (id {ws}) as {role}"))
            }
            many => Err(AdminError::Refused(format!(
                "{} workspaces are named \u{201c}{workspace}\u{201d}; rename one in the console first",
                many.len()
            ))),
        }
    })
}

/// Opens the database (applying migrations) and runs `admin create`, reading the password
/// from standard input or a prompt.
pub async fn create_command(settings: &Settings, args: CreateArgs) -> Result<String, AdminError> {
    let (db, _) = crate::startup::open_database(settings).await?;
    let prompt_for = args.email.trim().to_lowercase();
    tokio::task::spawn_blocking(move || create(&db, &args, || read_password(&prompt_for)))
        .await
        .map_err(|e| AdminError::Db(DbError::Unavailable(format!("the command's task failed: {e}"))))?
}

/// One line from standard input, or a no-echo prompt (asked twice) on a terminal.
fn read_password(email: &str) -> Result<String, AdminError> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| AdminError::Invalid(format!("cannot read the password from standard input: {e}")))?;
        let line = line.strip_suffix('\n').unwrap_or(&line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            return Err(AdminError::Invalid(
                "no password on standard input: pipe one line, e.g. `keyward admin create … < password-file`"
                    .into(),
            ));
        }
        return Ok(line.to_owned());
    }
    let first = prompt(&format!("Password for {email}: "))?;
    let second = prompt("Password again: ")?;
    if first != second {
        return Err(AdminError::Invalid("the two passwords do not match".into()));
    }
    Ok(first)
}

/// Asks on the terminal with echo turned off (through `stty`, restored afterwards).
fn prompt(text: &str) -> Result<String, AdminError> {
    let mut stderr = std::io::stderr();
    let _ = write!(stderr, "{text}");
    let _ = stderr.flush();
    if !stty("-echo") {
        let _ = writeln!(stderr);
        return Err(AdminError::Invalid(
            "cannot turn off echo on this terminal; pipe the password on standard input instead".into(),
        ));
    }
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    stty("echo");
    let _ = writeln!(stderr);
    read.map_err(|e| AdminError::Invalid(format!("cannot read the password: {e}")))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

fn stty(arg: &str) -> bool {
    std::process::Command::new("stty")
        .arg(arg)
        .stdin(std::process::Stdio::inherit())
        .status()
        .is_ok_and(|s| s.success())
}

#[derive(Args, Clone, Debug)]
pub struct ResetPasswordArgs {
    /// The account's email address.
    #[arg(long)]
    pub email: String,
    /// Also turn off two-factor sign-in (for someone who lost both their authenticator and
    /// their recovery codes). They can set it up again after signing in.
    #[arg(long)]
    pub remove_two_factor: bool,
}

/// `admin reset-password`: a single-use link (one hour) that sets a new password for the
/// account, printed for the operator to pass on. The operator is trusted with every account,
/// so unlike an owner's reset it is not limited to one workspace's members. Returns the lines
/// to print.
pub fn reset_password(db: &Db, settings: &Settings, args: &ResetPasswordArgs) -> Result<String, AdminError> {
    let email = Email::parse(&args.email).map_err(|e| AdminError::Invalid(format!("--email: {e}")))?;
    let now = Utc::now().naive_utc();
    let actor = Actor {
        user_id: None,
        label: "system (keyward admin reset-password)".into(),
        ip: None,
        user_agent: None,
    };
    let remove_two_factor = args.remove_two_factor;
    let (token, expires_at) = db.write_blocking(|conn: &mut DbConnection| -> Result<_, AdminError> {
        let user = store::find_user_by_email(conn, email.as_str())?
            .ok_or_else(|| AdminError::Refused(format!("no account has the email {email}")))?;
        let (token, expires_at) = crate::accounts::password_reset::start(conn, user.id, None, now)?;
        let details = "The operator made a password reset link (valid for 1 hour)";
        store::record_account_event(conn, &actor, user.id, "user.password_reset_started", details, now)?;
        if remove_two_factor && crate::accounts::two_factor::store::disable(conn, user.id)? {
            let details =
                "The operator turned off two-factor sign-in (lost authenticator and recovery codes)";
            store::record_account_event(conn, &actor, user.id, "user.two_factor_disabled", details, now)?;
        }
        Ok((token, expires_at))
    })?;
    let path = format!("/password-reset/{token}");
    let link = match crate::config::public_link(settings.public_url.as_ref(), &path) {
        Some(link) => link,
        None => format!(
            "http://{}{path}  (this server's address; set KEYWARD_PUBLIC_URL to print the one people use)",
            settings.bind
        ),
    };
    let mut out = format!(
        "Password reset link for {email}, valid once until {} UTC:\n{link}\nPass it on through a channel you trust: whoever opens it chooses the password. Using it signs out every session of {email}.",
        expires_at.format("%Y-%m-%d %H:%M")
    );
    if remove_two_factor {
        out.push_str(
            "\nTwo-factor sign-in is off for this account; they can set it up again under Your account.",
        );
    }
    Ok(out)
}

/// Opens the database (applying migrations) and runs `admin reset-password`.
pub async fn reset_password_command(
    settings: &Settings,
    args: ResetPasswordArgs,
) -> Result<String, AdminError> {
    let (db, _) = crate::startup::open_database(settings).await?;
    let settings = settings.clone();
    tokio::task::spawn_blocking(move || reset_password(&db, &settings, &args))
        .await
        .map_err(|e| AdminError::Db(DbError::Unavailable(format!("the command's task failed: {e}"))))?
}
