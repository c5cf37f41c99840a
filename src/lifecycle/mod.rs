//! The scheduled key rules, run by every instance in the background: once at start, then every
//! `Settings.lifecycle.interval` (five minutes by default).
//!
//! - [`reminders`]: 7 days and 1 day before a key expires, and when it has expired, its creator
//!   and the workspace's owners are told (by email when SMTP is configured), a webhook event is
//!   written (`key.expiring`, `key.expired`) and the audit log records it.
//! - [`unused`]: in a workspace whose policy revokes keys unused for N days, a key idle for
//!   N − 7 days is warned about, and one idle for N days (and warned at least 7 days ago) is
//!   revoked through the key operation, with the system as the actor.
//! - [`leaks`]: not scheduled but a notice all the same: a secret scanner's leak report stops
//!   the reported keys through the key operation and emails the workspaces' owners.
//! - [`retention`]: once a day per instance, usage days and client addresses older than 400
//!   days are deleted.
//!
//! Each notice is claimed by inserting its row into `key_notices` (primary key: key, kind,
//! and the moment it concerns) in the transaction that writes its event and audit entry;
//! whichever instance inserts first sends it, the others find the row and skip it. So running
//! often, on any number of instances, sends each notice once: the "daily job" is this
//! check repeated, every action of which is idempotent. Mail goes out after the commit, so a
//! mail server that is down costs that email, never the notice's record.

pub mod leaks;
pub mod notices;
pub mod reminders;
pub mod retention;
pub mod unused;

use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDateTime, Utc};
use tokio::sync::watch;

use crate::config::Settings;
use crate::db::{Db, DbError};
use crate::mail::Mailer;

/// How long shutdown waits for a run in progress to finish its notices (and their emails).
const STOP_WAIT: Duration = Duration::from_secs(15);

/// What one run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Expiry reminders and expiry notices recorded by this instance.
    pub reminders: usize,
    /// Warnings about unused keys recorded by this instance.
    pub unused_warnings: usize,
    /// Keys this instance revoked for being unused.
    pub revoked: usize,
}

/// What a run needs besides the database.
#[derive(Clone, Debug, Default)]
pub struct Outbox {
    pub mailer: Option<Mailer>,
    /// The console's public address, for the link in emails (`KEYWARD_PUBLIC_URL`).
    pub public_url: Option<url::Url>,
}

impl Outbox {
    /// The console's address for `path`, when the public URL is known.
    pub fn link(&self, path: &str) -> Option<String> {
        crate::config::public_link(self.public_url.as_ref(), path)
    }
}

/// Runs every rule once, as of `now`. A failure of one rule is returned after the other ran.
pub async fn run_once(db: &Db, outbox: &Outbox, now: NaiveDateTime) -> Result<Report, DbError> {
    let reminders = reminders::run(db, outbox, now).await;
    let unused = unused::run(db, outbox, now).await;
    let reminders = reminders?;
    let (unused_warnings, revoked) = unused?;
    Ok(Report { reminders, unused_warnings, revoked })
}

/// The background task; [`Lifecycle::stop`] ends it between two runs.
pub struct Lifecycle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// Starts the rules: a run now, then one every `settings.lifecycle.interval`.
pub fn spawn(db: Db, mailer: Option<Mailer>, settings: Arc<Settings>) -> Lifecycle {
    let (stop, mut stopped) = watch::channel(false);
    let outbox = Outbox { mailer, public_url: settings.public_url.clone() };
    let interval = settings.lifecycle.interval;
    let task = tokio::spawn(async move {
        let mut cleaned_on = None;
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopped.changed() => return,
            }
            match run_once(&db, &outbox, Utc::now().naive_utc()).await {
                Ok(report) if report != Report::default() => tracing::info!(
                    reminders = report.reminders,
                    unused_warnings = report.unused_warnings,
                    revoked = report.revoked,
                    "key lifecycle rules ran"
                ),
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "key lifecycle rules did not finish; they run again soon")
                }
            }
            let now = Utc::now().naive_utc();
            if retention::due(cleaned_on, now.date()) {
                match retention::run(&db, now).await {
                    Ok(removed) => {
                        cleaned_on = Some(now.date());
                        if removed != Default::default() {
                            tracing::info!(
                                usage_days = removed.days,
                                client_addresses = removed.addresses,
                                "usage past retention removed"
                            );
                        }
                    }
                    Err(error) => tracing::warn!(%error, "usage clean-up did not finish; it runs again soon"),
                }
            }
            if *stopped.borrow() {
                return;
            }
        }
    });
    Lifecycle { stop, task }
}

impl Lifecycle {
    /// Lets a run in progress finish (its notices are sent) and ends the task; after
    /// [`STOP_WAIT`] it is cut short.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let abort = self.task.abort_handle();
        if tokio::time::timeout(STOP_WAIT, self.task).await.is_err() {
            abort.abort();
        }
    }
}
