//! `GET/POST /settings/api-keys/bulk`: revoke or disable many keys with one confirmation.
//!
//! The table's checkboxes (or "all N keys matching this view") lead by GET to a confirmation
//! that lists every key it will stop, with when each was last used, so the person sees what
//! will break. The confirmation fixes the ids: a "matching" selection is resolved there, and
//! the POST acts on exactly the keys that were listed.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{NaiveDateTime, Utc};
use serde::Deserialize;

use super::list;
use crate::accounts::Capability;
use crate::console::csrf::CsrfForm;
use crate::console::dates::Moment;
use crate::console::error::ConsoleError;
use crate::console::flash::{self, Level};
use crate::console::member::Member;
use crate::console::pages::{PageCtx, render_status};
use crate::console::see_other;
use crate::console::session::TypedSession;
use crate::db::DbError;
use crate::keys::ops::BULK_MAX;
use crate::keys::store::{self, EnvFilter, InsightFilter, KeyRow, ListQuery, Status, StatusFilter};
use crate::keys::{self, Bulk, BulkAction};
use crate::state::AppState;

/// The selection, as the table's bulk bar sends it.
#[derive(Default, Deserialize)]
pub struct Selection {
    #[serde(default)]
    pub action: String,
    /// Ticked rows.
    #[serde(default)]
    pub id: Vec<String>,
    /// `matching`: every key of the view (status tab, environment and search), not only the
    /// ticked rows.
    #[serde(default)]
    pub all: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub env: String,
    /// The table's insight filter (stale, expiring, …), part of the view like the tab.
    #[serde(default)]
    pub insight: String,
}

/// The confirmed form: the action and the ids the confirmation listed.
#[derive(Default, Deserialize)]
pub struct BulkFormData {
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub id: Vec<String>,
}

fn parse_action(raw: &str) -> Option<BulkAction> {
    match raw {
        "revoke" => Some(BulkAction::Revoke),
        "disable" => Some(BulkAction::Disable),
        _ => None,
    }
}

fn parse_ids(raw: &[String]) -> Vec<i64> {
    let mut ids: Vec<i64> = raw.iter().filter_map(|s| s.parse::<i64>().ok()).filter(|id| *id > 0).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// One key on the confirmation.
pub struct Affected {
    pub id: i64,
    pub name: String,
    pub masked: String,
    pub description: String,
    pub last_used: Option<Moment>,
    /// Used in the last 7 days: something probably still depends on it.
    pub recent: bool,
    /// Why it is left alone, when it is ("already revoked").
    pub skipped: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "api_keys/bulk.html")]
pub struct BulkPage {
    pub ctx: PageCtx,
    pub action: &'static str,
    pub heading: String,
    pub button: String,
    pub keys: Vec<Affected>,
    pub changing: usize,
    /// Recently used keys among those that will stop: the integrations most likely to break.
    pub recently_used: usize,
    pub refusal: Option<String>,
    pub back: String,
}

/// Why `key` would be left alone by `action`.
fn skip_reason(key: &KeyRow, action: BulkAction, now: NaiveDateTime) -> Option<&'static str> {
    match (action, key.status(now)) {
        (_, Status::Revoked) => Some("already revoked"),
        (BulkAction::Disable, _) if key.disabled_at.is_some() => Some("already disabled"),
        _ => None,
    }
}

pub async fn bulk_form(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageKeys)?;
    let selection: Selection = serde_html_form::from_str(req.query_string()).unwrap_or_default();
    let status = StatusFilter::parse(&selection.status);
    let env = EnvFilter::parse(&selection.env);
    // The view the selection came from, searched as the table searches it.
    let q = list::search_text(&selection.q);
    let insight = InsightFilter::parse(&selection.insight);
    let back = format!("/settings/api-keys{}", list::insight_href(status, env, &q, 1, insight));
    let Some(action) = parse_action(&selection.action) else {
        flash::push(session.inner(), Level::Error, "Choose what to do with the selected keys.");
        return Ok(see_other(&back));
    };
    let now = Utc::now().naive_utc();
    let ws = member.workspace_id;
    let matching = selection.all == "matching";
    let ids = parse_ids(&selection.id);
    if !matching && ids.is_empty() {
        flash::push(session.inner(), Level::Error, "Select at least one key first.");
        return Ok(see_other(&back));
    }
    let query = ListQuery { status, env, search: q, page: 1, insight, ..ListQuery::default() };
    let (found, total) = state
        .db
        .run(move |conn| -> Result<_, DbError> {
            if matching {
                let total = store::count_matching(conn, ws, &query, now)?;
                Ok((store::matching_keys(conn, ws, &query, now, BULK_MAX as i64)?, total as usize))
            } else {
                let keys = store::find_many(conn, ws, &ids)?;
                let total = keys.len();
                Ok((keys, total))
            }
        })
        .await?;
    let recent_since = now - chrono::TimeDelta::days(7);
    let keys: Vec<Affected> = found
        .into_iter()
        .map(|k| Affected {
            skipped: skip_reason(&k, action, now),
            recent: k.last_used_at.is_some_and(|t| t >= recent_since),
            id: k.id,
            masked: k.masked(),
            last_used: k.last_used_at.map(|t| Moment::new(t, now)),
            description: k.description,
            name: k.name,
        })
        .collect();
    let changing = keys.iter().filter(|k| k.skipped.is_none()).count();
    let recently_used = keys.iter().filter(|k| k.skipped.is_none() && k.recent).count();
    let refusal = if total > BULK_MAX {
        Some(format!(
            "This view matches {total} keys; one bulk action takes at most {BULK_MAX}. Narrow it with a search or a status tab."
        ))
    } else if changing == 0 {
        Some("None of the selected keys can be changed this way: each is listed with the reason.".into())
    } else {
        None
    };
    let (verb, noun) = match action {
        BulkAction::Revoke => ("Revoke", "revoke"),
        BulkAction::Disable => ("Disable", "disable"),
    };
    let plural = |n: usize| if n == 1 { "key".to_owned() } else { format!("{n} keys") };
    let page = BulkPage {
        ctx: PageCtx::for_member(&member, &session, "keys"),
        action: noun,
        heading: format!("{verb} {}?", if changing == 1 { "1 key".to_owned() } else { plural(changing) }),
        button: format!("{verb} {}", plural(changing)),
        keys,
        changing,
        recently_used,
        refusal,
        back,
    };
    render_status(StatusCode::OK, &page)
}

pub async fn bulk_apply(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    CsrfForm(form): CsrfForm<BulkFormData>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageKeys)?;
    let ids = parse_ids(&form.id);
    let Some(action) = parse_action(&form.action).filter(|_| !ids.is_empty() && ids.len() <= BULK_MAX) else {
        flash::push(session.inner(), Level::Error, "Nothing was changed: select keys and an action again.");
        return Ok(see_other("/settings/api-keys"));
    };
    let Bulk { changed, skipped } =
        keys::ops::bulk(&state.db, &member.actor(), member.workspace_id, ids, action).await?;
    let done = match action {
        BulkAction::Revoke => "Revoked",
        BulkAction::Disable => "Disabled",
    };
    let names = |keys: &[keys::Gone]| {
        keys.iter().map(|k| format!("\u{201c}{}\u{201d}", k.name)).collect::<Vec<_>>().join(", ")
    };
    let mut message = match changed.len() {
        1 => format!("{done} {}. Requests using it are refused from now on.", names(&changed)),
        n => format!("{done} {n} keys: {}. Requests using them are refused from now on.", names(&changed)),
    };
    if !skipped.is_empty() {
        message.push_str(&format!(" Left as they were: {}.", names(&skipped)));
    }
    flash::push(session.inner(), Level::Success, message);
    Ok(see_other("/settings/api-keys"))
}
