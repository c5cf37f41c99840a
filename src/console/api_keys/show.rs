//! `GET /settings/api-keys/{id}`: one key's page. Everything about the key, where the
//! workspace's policy leaves it, what it did over the last 30 days (a chart, the same figures
//! as a table, the denials by code), the client addresses it was last presented from and its
//! audit history. Every member who sees the table sees it; the row actions are the table's.

use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{NaiveDateTime, TimeDelta, Utc};

use super::chart::{self, Chart};
use super::{KeyView, StatusClass, parse_key_id};
use crate::accounts::Capability;
use crate::console::audit_log::action_words;
use crate::console::dates::{Moment, date};
use crate::console::error::ConsoleError;
use crate::console::member::Member;
use crate::console::pages::{PageCtx, render};
use crate::console::session::TypedSession;
use crate::db::DbError;
use crate::keys::Expiry;
use crate::keys::insight::{self, KeyInsight, USAGE_DAYS};
use crate::keys::policy::{Policy, days_in_words};
use crate::keys::store::{KeyRow, Status};
use crate::keys::usage::Outcome;
use crate::lifecycle::unused::{last_activity, last_warning, revoked_from};
use crate::state::AppState;

/// One row of the daily table.
pub struct DayRow {
    pub iso: String,
    pub label: String,
    pub allowed: i64,
    pub denied: i64,
}

/// One denial code with its 30-day total.
pub struct CodeRow {
    pub code: &'static str,
    pub label: &'static str,
    pub count: i64,
}

/// An address the key was presented from.
pub struct AddressRow {
    pub ip: String,
    pub seen: Moment,
}

/// An audit entry about the key.
pub struct HistoryRow {
    pub at: Moment,
    pub actor: String,
    pub action: String,
    pub words: String,
    pub details: String,
}

#[derive(Template)]
#[template(path = "api_keys/show.html")]
pub struct KeyPage {
    pub ctx: PageCtx,
    pub key: KeyView,
    pub can_manage: bool,
    /// "Test" for a `kw_test_` key, else "Live".
    pub environment: &'static str,
    pub expiry_rule: String,
    pub allowed_ips: Vec<String>,
    pub last_change: Option<(Moment, String, String)>,
    pub policy: Vec<String>,
    pub chart: Chart,
    pub days: Vec<DayRow>,
    pub total_allowed: i64,
    pub total_denied: i64,
    pub codes: Vec<CodeRow>,
    pub addresses: Vec<AddressRow>,
    pub history: Vec<HistoryRow>,
    pub usage_days: i64,
}

/// The stored expiry rule in words.
fn expiry_rule_in_words(rule: &str) -> String {
    match Expiry::from_rule(rule) {
        Expiry::Days(d) => format!("{} from issue or regeneration", days_in_words(d)),
        Expiry::Until(day) => format!("until {}", crate::text::day_in_words(day)),
        Expiry::Never => "never expires".to_owned(),
    }
}

/// Where the workspace's policy leaves the key, one sentence a rule. `warned`: the newest
/// unused-key warning (the activity it was about, when it went out).
pub fn policy_state(
    policy: &Policy,
    key: &KeyRow,
    warned: Option<(NaiveDateTime, NaiveDateTime)>,
    now: NaiveDateTime,
) -> Vec<String> {
    let status = key.status(now);
    if matches!(status, Status::Revoked | Status::Expired) {
        return vec![format!(
            "The key is {}: no policy rule applies to it any more.",
            status.label().to_lowercase()
        )];
    }
    let mut lines = Vec::new();
    if let Some(max) = policy.max_lifetime_days {
        let start = key.regenerated_at.unwrap_or(key.created_at);
        // A day's slack: a date-based expiry ends at the following midnight.
        let within = key.expires_at.is_some_and(|e| e - start <= TimeDelta::days(i64::from(max) + 1));
        lines.push(if within {
            format!("Within the workspace\u{2019}s {max}-day maximum lifetime.")
        } else {
            format!(
                "Lives longer than the workspace\u{2019}s {max}-day maximum lifetime (set before the rule); \
                 regenerating it shortens it to the maximum."
            )
        });
    } else if policy.expiry_required {
        lines.push(if key.expires_at.is_some() {
            "Has an expiration date, as the workspace\u{2019}s policy requires.".to_owned()
        } else {
            "Has no expiration date, which the workspace\u{2019}s policy now requires; regenerating it gives it one."
                .to_owned()
        });
    }
    if let Some(days) = policy.unused_revoke_days {
        let since = last_activity(key.created_at, key.regenerated_at, key.last_used_at);
        let last = match key.last_used_at {
            Some(used) => format!("last used {}", date(used)),
            None => format!("never used; issued {}", date(since)),
        };
        let from = match warned.filter(|(about, _)| *about == since) {
            Some((_, warned_at)) => revoked_from(days, since, warned_at),
            None => since + TimeDelta::days(i64::from(days)),
        };
        lines.push(format!(
            "Will be revoked after {} unused ({last}): from {} unless it is used before then.",
            days_in_words(days),
            date(from.max(now)),
        ));
    }
    if lines.is_empty() {
        lines.push("The workspace has no lifetime or unused-key policy.".to_owned());
    }
    lines
}

pub async fn key_page(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ViewKeys)?;
    let id = parse_key_id(&path)?;
    let ws = member.workspace_id;
    let now = Utc::now().naive_utc();
    let (found, warned) = state
        .db
        .run(move |conn| -> Result<_, DbError> {
            let found = insight::key_insight(conn, ws, id, now)?;
            let warned = match &found {
                Some(_) => last_warning(conn, id)?,
                None => None,
            };
            Ok((found, warned))
        })
        .await?;
    let insight = found.ok_or(ConsoleError::NotFound)?;
    render(&KeyPage::new(
        PageCtx::for_member(&member, &session, "keys"),
        insight,
        warned,
        member.can(Capability::ManageKeys),
        &state,
        now,
    ))
}

impl KeyPage {
    fn new(
        ctx: PageCtx,
        i: KeyInsight,
        warned: Option<(NaiveDateTime, NaiveDateTime)>,
        can_manage: bool,
        state: &AppState,
        now: NaiveDateTime,
    ) -> Self {
        let KeyInsight { key, emails, last_change, usage, addresses, history, policy } = i;
        let chart = chart::chart(
            &usage.iter().map(|d| (d.day, d.counts.allowed(), d.counts.denied())).collect::<Vec<_>>(),
        );
        let days: Vec<DayRow> = usage
            .iter()
            .rev()
            .map(|d| DayRow {
                iso: d.day.to_string(),
                label: crate::text::day_in_words(d.day),
                allowed: d.counts.allowed(),
                denied: d.counts.denied(),
            })
            .collect();
        let codes = Outcome::DENIALS
            .into_iter()
            .map(|o| CodeRow {
                code: o.code(),
                label: o.label(),
                count: usage.iter().map(|d| d.counts.get(o)).sum(),
            })
            .collect();
        Self {
            environment: key.environment().label(),
            expiry_rule: expiry_rule_in_words(&key.expiry_rule),
            allowed_ips: key.allow_list().map(|list| list.to_list()).unwrap_or_default(),
            last_change: last_change
                .map(|e| (Moment::new(e.at, now), e.actor, action_words(&e.action).to_owned())),
            policy: policy_state(&policy, &key, warned, now),
            total_allowed: days.iter().map(|d| d.allowed).sum(),
            total_denied: days.iter().map(|d| d.denied).sum(),
            chart,
            days,
            codes,
            addresses: addresses
                .into_iter()
                .map(|(ip, at)| AddressRow { ip, seen: Moment::new(at, now) })
                .collect(),
            history: history
                .into_iter()
                .map(|e| HistoryRow {
                    at: Moment::new(e.at, now),
                    words: action_words(&e.action).to_owned(),
                    action: e.action,
                    actor: e.actor,
                    details: e.details,
                })
                .collect(),
            key: KeyView::new(key, &emails, &state.catalogue, now),
            can_manage,
            usage_days: USAGE_DAYS,
            ctx,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    fn now() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 12, 2).unwrap().and_hms_opt(12, 0, 0).unwrap()
    }

    fn key(created_days_ago: i64, expires_in: Option<i64>) -> KeyRow {
        KeyRow {
            id: 1,
            workspace_id: 1,
            name: "bot".into(),
            prefix: "kw_live_".into(),
            last4: "ABCD".into(),
            permissions: "*".into(),
            expiry_rule: "never".into(),
            created_by: None,
            created_at: now() - TimeDelta::days(created_days_ago),
            expires_at: expires_in.map(|d| now() + TimeDelta::days(d)),
            revoked_at: None,
            revoked_by: None,
            last_used_at: None,
            last_used_ip: None,
            rate_limit_per_minute: None,
            regenerated_at: None,
            rate_limit_burst: None,
            description: String::new(),
            disabled_at: None,
            disabled_by: None,
            previous_last4: None,
            previous_expires_at: None,
            allowed_ips: None,
        }
    }

    #[test]
    fn the_policy_state_names_each_rule() {
        let mut test_key = key(1, None);
        test_key.prefix = "kw_test_".into();
        assert_eq!(test_key.environment().label(), "Test");
        assert_eq!(key(1, None).environment().label(), "Live");
        let none = Policy::default();
        assert_eq!(
            policy_state(&none, &key(1, None), None, now()),
            ["The workspace has no lifetime or unused-key policy."]
        );
        let p = Policy { max_lifetime_days: Some(90), unused_revoke_days: Some(60), ..Policy::default() };
        let lines = policy_state(&p, &key(10, Some(80)), None, now());
        assert_eq!(lines[0], "Within the workspace\u{2019}s 90-day maximum lifetime.");
        assert_eq!(
            lines[1],
            "Will be revoked after 60 days unused (never used; issued 22 Nov 2026): from 21 Jan 2027 unless it is used before then."
        );
        assert!(policy_state(&p, &key(10, None), None, now())[0].starts_with("Lives longer"));
        // Warned today: revoked no sooner than a week later.
        let mut idle = key(100, Some(10));
        idle.last_used_at = Some(now() - TimeDelta::days(55));
        let since = idle.last_used_at.unwrap();
        let lines = policy_state(&p, &idle, Some((since, now())), now());
        assert!(
            lines[1].contains("last used 8 Oct 2026") && lines[1].contains("from 9 Dec 2026"),
            "{}",
            lines[1]
        );
        idle.revoked_at = Some(now());
        assert_eq!(policy_state(&p, &idle, None, now()).len(), 1);
    }
}
