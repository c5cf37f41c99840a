//! The dispatcher: one background task per instance that delivers what the outbox holds.
//!
//! It claims a due delivery in one short transaction, marking its endpoint busy until the
//! request's timeout has passed (`busy_until`), so each endpoint has at most one request in
//! flight across every instance; on PostgreSQL the claim locks the rows it reads with
//! `FOR UPDATE SKIP LOCKED`, so instances polling at once each take different work, and on
//! SQLite the write transaction (`BEGIN IMMEDIATE`) already serialises them. The request goes
//! out after the commit; its outcome is recorded in a second transaction: success, or a retry
//! after an exponentially growing wait, until the delivery is older than `give_up_after`. An
//! endpoint that has failed for that long is disabled and its workspace's owners are emailed.
//!
//! Requests carry the Standard Webhooks headers, follow no redirect, give up after the
//! configured timeout, and reach only public addresses unless private ones are allowed: literal
//! addresses are checked again before sending, and host names are resolved by
//! [`GuardedResolver`], which drops every private address a name resolves to.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, TimeDelta, Utc};
use diesel::prelude::*;
use rand::Rng;
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

use super::Webhooks;
use super::signing::SigningSecret;
use super::url::{WebhookUrl, is_public, redacted};
use crate::accounts::two_factor::SecretCipher;
use crate::accounts::{Role, members};
use crate::audit::{self, Actor, Event};
use crate::config::WebhookSettings;
use crate::db::schema::{
    webhook_attempts, webhook_deliveries, webhook_endpoints, webhook_events, workspaces,
};
use crate::db::{Db, DbConnection, DbError};
use crate::mail::{self, Mailer};

/// Requests in flight at once, per instance (each to a different endpoint).
const MAX_IN_FLIGHT: usize = 8;
/// Added to the timeout for how long a claimed endpoint stays busy: the claim outlives the
/// request, so a second instance cannot start another while the first is still recording.
const BUSY_MARGIN: Duration = Duration::from_secs(5);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(4 * 3600);
/// Finished deliveries and their events are kept this long for the endpoint's page.
const KEEP_FOR: TimeDelta = TimeDelta::days(30);
const CLEANUP_EVERY: Duration = Duration::from_secs(3600);
/// At most this much of an error is kept (no response body is ever stored).
const MAX_ERROR: usize = 200;

/// The running dispatcher; [`Dispatcher::stop`] ends it (at shutdown).
pub struct Dispatcher {
    task: JoinHandle<()>,
}

impl Dispatcher {
    /// Starts the dispatcher on the current runtime.
    pub fn start(db: Db, settings: WebhookSettings, webhooks: &Webhooks, mailer: Option<Mailer>) -> Self {
        let (cipher, wake) = (webhooks.cipher().clone(), webhooks.wake());
        Self { task: tokio::spawn(run(db, settings, cipher, wake, mailer)) }
    }

    /// Stops polling and drops the requests in flight: their deliveries stay pending and are
    /// sent again once the endpoint's claim has expired (a receiver may see one twice, with the
    /// same `webhook-id`).
    pub fn stop(&self) {
        self.task.abort();
    }
}

/// The wait before attempt `attempts + 1`, after `attempts` failures: `retry_base × 4^(n−1)`,
/// at most four hours, plus up to a tenth more at random so that retries spread out.
pub fn backoff(retry_base: Duration, attempts: u32) -> Duration {
    let exp = attempts.saturating_sub(1).min(16);
    let wait = retry_base.saturating_mul(4u32.saturating_pow(exp)).min(MAX_BACKOFF);
    let jitter = rand::rng().random_range(0.0..0.1);
    wait + wait.mul_f64(jitter)
}

/// One claimed delivery, with what sending it needs.
struct Job {
    delivery_id: i64,
    endpoint_id: i64,
    url: String,
    sealed_secret: String,
    message_id: String,
    payload: String,
    created_at: NaiveDateTime,
}

async fn run(
    db: Db,
    settings: WebhookSettings,
    cipher: SecretCipher,
    wake: Arc<Notify>,
    mailer: Option<Mailer>,
) {
    let client = match client(&settings) {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "webhooks cannot be sent: the HTTP client did not start");
            return;
        }
    };
    let ctx = Arc::new(Ctx { db, settings, cipher, client, mailer });
    let mut running: JoinSet<()> = JoinSet::new();
    let mut last_cleanup = Instant::now();
    // While the database is out the poll fails every time: said once, and once when it is back.
    let mut unreadable = false;
    loop {
        while running.try_join_next().is_some() {}
        while running.len() < MAX_IN_FLIGHT {
            let claimed = claim_next(&ctx).await;
            match (&claimed, unreadable) {
                (Err(error), false) => tracing::warn!(%error, "webhook deliveries cannot be read; retrying"),
                (Ok(_), true) => tracing::info!("webhook deliveries can be read again"),
                _ => {}
            }
            unreadable = claimed.is_err();
            match claimed {
                Ok(Some(job)) => {
                    running.spawn(deliver(ctx.clone(), job));
                }
                Ok(None) | Err(_) => break,
            }
        }
        if last_cleanup.elapsed() >= CLEANUP_EVERY {
            last_cleanup = Instant::now();
            let cutoff = Utc::now().naive_utc() - KEEP_FOR;
            if let Err(error) = ctx.db.write(move |conn| cleanup(conn, cutoff)).await {
                tracing::warn!(%error, "old webhook deliveries could not be removed");
            }
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(ctx.settings.poll_interval) => {}
            Some(_) = running.join_next(), if !running.is_empty() => {}
        }
    }
}

struct Ctx {
    db: Db,
    settings: WebhookSettings,
    cipher: SecretCipher,
    client: reqwest::Client,
    mailer: Option<Mailer>,
}

fn client(settings: &WebhookSettings) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout)
        .user_agent(concat!("keyward-webhooks/", env!("CARGO_PKG_VERSION")))
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver { allow_private: settings.allow_private }))
        .build()
}

/// Resolves host names for deliveries and keeps only the addresses a webhook may reach, so a
/// name pointing at a private address (now, or after the endpoint was checked) is refused.
struct GuardedResolver {
    allow_private: bool,
}

/// The resolver kept no address.
#[derive(Debug, thiserror::Error)]
#[error("the host name resolves only to private, loopback or link-local addresses")]
struct OnlyPrivateAddresses;

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::task::spawn_blocking(move || {
                (host.as_str(), 0).to_socket_addrs().map(Iterator::collect)
            })
            .await??;
            let kept: Vec<SocketAddr> =
                found.into_iter().filter(|a| allow_private || is_public(a.ip())).collect();
            if kept.is_empty() {
                return Err(Box::new(OnlyPrivateAddresses) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Claims the oldest due delivery whose endpoint is enabled and idle, if any.
async fn claim_next(ctx: &Ctx) -> Result<Option<Job>, DbError> {
    let now = Utc::now().naive_utc();
    // A read first: most polls find nothing, and need no write transaction for that.
    let due = ctx
        .db
        .run(move |conn| -> Result<bool, DbError> {
            Ok(diesel::select(diesel::dsl::exists(due_deliveries(now))).get_result(conn)?)
        })
        .await?;
    if !due {
        return Ok(None);
    }
    let busy_until = now + TimeDelta::from_std(ctx.settings.timeout + BUSY_MARGIN).unwrap_or(TimeDelta::MAX);
    ctx.db.write(move |conn| claim(conn, now, busy_until)).await
}

type Due = diesel::dsl::Filter<
    diesel::dsl::Filter<
        diesel::dsl::Filter<
            diesel::dsl::Filter<
                diesel::dsl::InnerJoin<webhook_deliveries::table, webhook_endpoints::table>,
                diesel::dsl::Eq<webhook_deliveries::status, &'static str>,
            >,
            diesel::dsl::LtEq<webhook_deliveries::next_attempt_at, NaiveDateTime>,
        >,
        diesel::dsl::IsNull<webhook_endpoints::disabled_at>,
    >,
    diesel::dsl::Or<
        diesel::dsl::IsNull<webhook_endpoints::busy_until>,
        diesel::dsl::Lt<webhook_endpoints::busy_until, NaiveDateTime>,
    >,
>;

/// Pending deliveries due by `now` to enabled endpoints with nothing in flight.
fn due_deliveries(now: NaiveDateTime) -> Due {
    webhook_deliveries::table
        .inner_join(webhook_endpoints::table)
        .filter(webhook_deliveries::status.eq("pending"))
        .filter(webhook_deliveries::next_attempt_at.le(now))
        .filter(webhook_endpoints::disabled_at.is_null())
        .filter(webhook_endpoints::busy_until.is_null().or(webhook_endpoints::busy_until.lt(now)))
}

fn claim(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    busy_until: NaiveDateTime,
) -> Result<Option<Job>, DbError> {
    let query = due_deliveries(now)
        .order((webhook_deliveries::next_attempt_at.asc(), webhook_deliveries::id.asc()))
        .select((webhook_deliveries::id, webhook_deliveries::endpoint_id));
    let found: Option<(i64, i64)> = match conn {
        // Rows another instance is claiming right now are skipped, not waited for.
        DbConnection::Postgresql(pg) => query.for_update().skip_locked().first(pg).optional()?,
        DbConnection::Sqlite(lite) => query.first(lite).optional()?,
    };
    let Some((delivery_id, endpoint_id)) = found else { return Ok(None) };
    let taken = diesel::update(
        webhook_endpoints::table
            .filter(webhook_endpoints::id.eq(endpoint_id))
            .filter(webhook_endpoints::busy_until.is_null().or(webhook_endpoints::busy_until.lt(now))),
    )
    .set(webhook_endpoints::busy_until.eq(Some(busy_until)))
    .execute(conn)?;
    if taken == 0 {
        return Ok(None);
    }
    let (url, sealed_secret): (String, String) = webhook_endpoints::table
        .find(endpoint_id)
        .select((webhook_endpoints::url, webhook_endpoints::secret))
        .first(conn)?;
    let (message_id, payload, created_at): (String, String, NaiveDateTime) = webhook_deliveries::table
        .inner_join(webhook_events::table)
        .filter(webhook_deliveries::id.eq(delivery_id))
        .select((webhook_events::message_id, webhook_events::payload, webhook_deliveries::created_at))
        .first(conn)?;
    Ok(Some(Job { delivery_id, endpoint_id, url, sealed_secret, message_id, payload, created_at }))
}

/// How one attempt went.
#[derive(Debug)]
enum Outcome {
    Succeeded(i32),
    Failed { status: Option<i32>, error: String },
}

async fn deliver(ctx: Arc<Ctx>, job: Job) {
    let outcome = match ctx.cipher.open_bytes(&job.sealed_secret) {
        Ok(bytes) => send(&ctx, &job, &SigningSecret::from_bytes(bytes)).await,
        Err(_) => Outcome::Failed {
            status: None,
            error: "The signing secret cannot be decrypted with this instance's secret key.".into(),
        },
    };
    let settings = ctx.settings;
    let (delivery_id, endpoint_id, created_at) = (job.delivery_id, job.endpoint_id, job.created_at);
    let now = Utc::now().naive_utc();
    let recorded = ctx
        .db
        .write(move |conn| record(conn, &settings, delivery_id, endpoint_id, created_at, &outcome, now))
        .await;
    match recorded {
        Ok(Some(notice)) => notify_owners(&ctx, notice).await,
        Ok(None) => {}
        Err(error) => tracing::warn!(%error, delivery_id, "a webhook attempt could not be recorded"),
    }
}

async fn send(ctx: &Ctx, job: &Job, secret: &SigningSecret) -> Outcome {
    // Checked again now: the rule may have changed since the endpoint was added.
    let url = match WebhookUrl::parse(&job.url, ctx.settings.allow_private) {
        Ok(url) => url,
        Err(e) => return Outcome::Failed { status: None, error: format!("Not sent: {e}") },
    };
    let timestamp = Utc::now().timestamp();
    let request = ctx
        .client
        .post(url.as_str())
        .header("content-type", "application/json")
        .header("webhook-id", &job.message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", secret.sign(&job.message_id, timestamp, &job.payload))
        .body(job.payload.clone());
    match request.send().await {
        Ok(res) => {
            let status = res.status();
            let code = i32::from(status.as_u16());
            if status.is_success() {
                Outcome::Succeeded(code)
            } else if status.is_redirection() {
                Outcome::Failed {
                    status: Some(code),
                    error: format!("Answered {status}: redirects are not followed."),
                }
            } else {
                Outcome::Failed { status: Some(code), error: format!("Answered {status}.") }
            }
        }
        Err(e) => Outcome::Failed { status: None, error: describe(&e, ctx.settings.timeout) },
    }
}

/// A short reason for a request that got no answer.
fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("No answer within {}.", humantime::format_duration(timeout));
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut deepest = e.to_string();
    while let Some(s) = source {
        if s.downcast_ref::<OnlyPrivateAddresses>().is_some() {
            return "Not sent: the host name resolves only to private, loopback or link-local addresses."
                .into();
        }
        deepest = s.to_string();
        source = s.source();
    }
    let what = if e.is_connect() { "Could not connect" } else { "The request failed" };
    truncate(&format!("{what}: {deepest}"))
}

fn truncate(s: &str) -> String {
    match s.char_indices().nth(MAX_ERROR) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// An endpoint just disabled for failing too long, for the owners' email.
struct DisabledNotice {
    endpoint_id: i64,
    url: String,
    workspace_name: String,
    failing_since: NaiveDateTime,
    owners: Vec<String>,
}

fn record(
    conn: &mut DbConnection,
    settings: &WebhookSettings,
    delivery_id: i64,
    endpoint_id: i64,
    created_at: NaiveDateTime,
    outcome: &Outcome,
    now: NaiveDateTime,
) -> Result<Option<DisabledNotice>, DbError> {
    let give_up_after = TimeDelta::from_std(settings.give_up_after).unwrap_or(TimeDelta::MAX);
    let delivery = webhook_deliveries::table.find(delivery_id);
    let endpoint = webhook_endpoints::table.find(endpoint_id);
    let previous: Option<i32> = delivery.select(webhook_deliveries::attempts).first(conn).optional()?;
    let Some(previous) = previous else {
        // Deleted meanwhile, with its endpoint: nothing left to record.
        diesel::update(endpoint)
            .set(webhook_endpoints::busy_until.eq(None::<NaiveDateTime>))
            .execute(conn)?;
        return Ok(None);
    };
    let attempts = previous + 1;
    let (status, error) = match outcome {
        Outcome::Succeeded(code) => (Some(*code), None),
        Outcome::Failed { status, error } => (*status, Some(truncate(error))),
    };
    diesel::insert_into(webhook_attempts::table)
        .values((
            webhook_attempts::delivery_id.eq(delivery_id),
            webhook_attempts::attempted_at.eq(now),
            webhook_attempts::response_status.eq(status),
            webhook_attempts::error.eq(error),
        ))
        .execute(conn)?;
    match outcome {
        Outcome::Succeeded(code) => {
            diesel::update(delivery)
                .set((
                    webhook_deliveries::status.eq("succeeded"),
                    webhook_deliveries::attempts.eq(attempts),
                    webhook_deliveries::last_attempt_at.eq(Some(now)),
                    webhook_deliveries::next_attempt_at.eq(None::<NaiveDateTime>),
                    webhook_deliveries::response_status.eq(Some(*code)),
                    webhook_deliveries::last_error.eq(None::<String>),
                ))
                .execute(conn)?;
            diesel::update(endpoint)
                .set((
                    webhook_endpoints::busy_until.eq(None::<NaiveDateTime>),
                    webhook_endpoints::failing_since.eq(None::<NaiveDateTime>),
                ))
                .execute(conn)?;
            Ok(None)
        }
        Outcome::Failed { status, error } => {
            let gave_up = now - created_at >= give_up_after;
            let next = (!gave_up).then(|| {
                now + TimeDelta::from_std(backoff(settings.retry_base, attempts.max(1) as u32))
                    .unwrap_or(TimeDelta::MAX)
            });
            diesel::update(delivery)
                .set((
                    webhook_deliveries::status.eq(if gave_up { "failed" } else { "pending" }),
                    webhook_deliveries::attempts.eq(attempts),
                    webhook_deliveries::last_attempt_at.eq(Some(now)),
                    webhook_deliveries::next_attempt_at.eq(next),
                    webhook_deliveries::response_status.eq(*status),
                    webhook_deliveries::last_error.eq(Some(truncate(error))),
                ))
                .execute(conn)?;
            let row: Option<(i64, String, Option<NaiveDateTime>, Option<NaiveDateTime>)> = endpoint
                .select((
                    webhook_endpoints::workspace_id,
                    webhook_endpoints::url,
                    webhook_endpoints::failing_since,
                    webhook_endpoints::disabled_at,
                ))
                .first(conn)
                .optional()?;
            let Some((workspace_id, url, failing_since, disabled_at)) = row else { return Ok(None) };
            let since = failing_since.unwrap_or(now);
            let disable = disabled_at.is_none() && now - since >= give_up_after;
            let reason = format!(
                "Every delivery failed for {} since {}; the last one: {}",
                humantime::format_duration(settings.give_up_after),
                crate::text::exact_utc(since),
                truncate(error),
            );
            diesel::update(endpoint)
                .set((
                    webhook_endpoints::busy_until.eq(None::<NaiveDateTime>),
                    webhook_endpoints::failing_since.eq(Some(since)),
                ))
                .execute(conn)?;
            if !disable {
                return Ok(None);
            }
            diesel::update(endpoint)
                .set((
                    webhook_endpoints::disabled_at.eq(Some(now)),
                    webhook_endpoints::disabled_reason.eq(Some(&reason)),
                ))
                .execute(conn)?;
            super::endpoints::drop_pending(conn, endpoint_id)?;
            let system = Actor { label: "system".into(), ..Actor::default() };
            let event = Event {
                workspace_id: Some(workspace_id),
                action: "webhook.disabled",
                key: None,
                details: format!("Webhook endpoint {} disabled: {reason}", redacted(&url)),
            };
            audit::record(conn, &system, event, now)?;
            let workspace_name: String =
                workspaces::table.find(workspace_id).select(workspaces::name).first(conn)?;
            let owners = members::list(conn, workspace_id)?
                .into_iter()
                .filter(|m| m.role == Role::Owner)
                .map(|m| m.email)
                .collect();
            Ok(Some(DisabledNotice { endpoint_id, url, workspace_name, failing_since: since, owners }))
        }
    }
}

/// Emails each owner that an endpoint was disabled (after the commit: a mail server that is
/// down costs the email; the console shows the endpoint disabled with its reason anyway).
async fn notify_owners(ctx: &Ctx, notice: DisabledNotice) {
    tracing::warn!(
        endpoint_id = notice.endpoint_id,
        "a webhook endpoint was disabled after failing too long"
    );
    for owner in &notice.owners {
        let body = format!(
            "Hello,\n\n\
             keyward stopped sending webhooks to an endpoint of the workspace \u{201c}{ws}\u{201d}:\n\n\
             {url}\n\n\
             Every delivery to it failed since {since}, so it was disabled. Events that happen\n\
             while it is disabled are not sent to it.\n\n\
             Once the receiver works again, enable it under Settings \u{2192} Webhooks in keyward;\n\
             each delivery there shows the answer it got.\n",
            ws = notice.workspace_name,
            url = notice.url,
            since = crate::text::exact_utc(notice.failing_since),
        );
        let subject = format!("Webhook endpoint disabled in {}", notice.workspace_name);
        mail::deliver(ctx.mailer.as_ref(), "webhook endpoint disabled", || mail::Message {
            to: owner.clone(),
            subject,
            body,
        })
        .await;
    }
}

/// Removes finished deliveries older than `cutoff`, and events no delivery needs any more.
fn cleanup(conn: &mut DbConnection, cutoff: NaiveDateTime) -> Result<(), DbError> {
    diesel::delete(
        webhook_deliveries::table
            .filter(webhook_deliveries::status.ne("pending"))
            .filter(webhook_deliveries::created_at.lt(cutoff)),
    )
    .execute(conn)?;
    diesel::delete(webhook_events::table.filter(webhook_events::created_at.lt(cutoff)).filter(
        diesel::dsl::not(diesel::dsl::exists(
            webhook_deliveries::table.filter(webhook_deliveries::event_id.eq(webhook_events::id)),
        )),
    ))
    .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_four_times_longer_each_time_up_to_four_hours() {
        let base = Duration::from_secs(5);
        let within = |d: Duration, expected: u64| {
            let e = Duration::from_secs(expected);
            assert!(d >= e && d <= e + e / 10, "{d:?} vs {e:?}");
        };
        within(backoff(base, 1), 5);
        within(backoff(base, 2), 20);
        within(backoff(base, 3), 80);
        within(backoff(base, 7), 4 * 3600);
        within(backoff(base, 40), 4 * 3600);
    }

    #[test]
    fn errors_are_kept_short() {
        let long = "é".repeat(500);
        assert_eq!(truncate(&long).chars().count(), MAX_ERROR + 1);
        assert_eq!(truncate("short"), "short");
    }
}
