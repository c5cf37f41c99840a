//! `GET /settings/api-keys`: the table, filtered by status, by environment and by the workspace
//! figures above it (stale, expiring, without expiry, busiest), searched by name, 50 a page.

use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

use super::{KeyView, StatusClass};
use crate::accounts::Capability;
use crate::console::error::ConsoleError;
use crate::console::member::Member;
use crate::console::pages::{PageCtx, render};
use crate::console::session::TypedSession;
use crate::db::DbError;
use crate::keys::store::{self, EnvFilter, InsightCount, InsightFilter, ListQuery, StatusFilter};
use crate::state::AppState;

#[derive(Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub page: String,
    /// `live`, `test`, or anything else for both.
    #[serde(default)]
    pub env: String,
    /// One of the workspace figures above the table (`stale`, `expiring`, …), as a filter.
    #[serde(default)]
    pub insight: String,
}

/// A status tab.
pub struct Tab {
    pub label: &'static str,
    pub href: String,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "api_keys/list.html")]
pub struct KeyListPage {
    pub ctx: PageCtx,
    pub keys: Vec<KeyView>,
    pub can_manage: bool,
    /// The workspace has no keys at all (not merely none matching the filter).
    pub workspace_empty: bool,
    pub tabs: Vec<Tab>,
    pub status: &'static str,
    pub status_label: &'static str,
    /// The environment filter's links, and its value (`all`, `live`, `test`).
    pub env_tabs: Vec<Tab>,
    pub env: &'static str,
    pub q: String,
    pub page: i64,
    pub prev_href: Option<String>,
    pub next_href: Option<String>,
    /// Keys of the whole view (every page): what "select all matching" would take.
    pub matching: i64,
    /// Active keys that expire within 7 days, for the banner (the figure above the table, so
    /// counted to 1,000 at most: `expiring_more` past that).
    pub expiring_this_week: i64,
    pub expiring_more: bool,
    /// The table filtered to them.
    pub expiring_href: String,
    /// The workspace figures above the table, each a link that filters it.
    pub insights: Vec<InsightLink>,
    /// The insight filter in force (`""` for none), kept by the search form and the tabs.
    pub insight: &'static str,
    pub insight_label: &'static str,
    /// The table without the insight filter (the chip's "clear").
    pub clear_insight_href: String,
    /// Requests per key in the last 7 days, shown when the busiest filter is on.
    pub requests_this_week: std::collections::HashMap<i64, i64>,
}

/// One workspace figure above the table.
pub struct InsightLink {
    pub key: &'static str,
    pub label: &'static str,
    /// The figure as shown: `12`, or `1000+` past the count's cap.
    pub count: String,
    pub href: String,
    pub current: bool,
    /// Says what the figure means, under it.
    pub hint: &'static str,
}

impl KeyListPage {
    /// The requests this week of key `id`, for the busiest view.
    pub fn requests_of(&self, id: &i64) -> i64 {
        self.requests_this_week.get(id).copied().unwrap_or(0)
    }
}

impl KeyListPage {
    /// Whether the view is narrower or longer than this page, so "all N matching" says more
    /// than the page's own boxes.
    pub fn offer_all_matching(&self) -> bool {
        self.matching > self.keys.len() as i64
    }
}

/// A name search as typed, as the table searches it: trimmed, at most 64 characters (no name
/// is longer).
pub fn search_text(raw: &str) -> String {
    raw.trim().chars().take(64).collect()
}

/// `?status=…&env=…&q=…&page=…`, leaving out what is at its default (`status` always).
pub fn href(status: StatusFilter, env: EnvFilter, q: &str, page: i64) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("status", status.as_str());
    if env != EnvFilter::All {
        query.append_pair("env", env.as_str());
    }
    if !q.is_empty() {
        query.append_pair("q", q);
    }
    if page > 1 {
        query.append_pair("page", &page.to_string());
    }
    format!("?{}", query.finish())
}

/// [`href`] with an insight filter, when one is on.
pub fn insight_href(
    status: StatusFilter,
    env: EnvFilter,
    q: &str,
    page: i64,
    insight: InsightFilter,
) -> String {
    let base = href(status, env, q, page);
    if insight == InsightFilter::None {
        return base;
    }
    let mut extra = url::form_urlencoded::Serializer::new(String::new());
    extra.append_pair("insight", insight.as_str());
    format!("{base}&{}", extra.finish())
}

/// One tab per status, the current one marked; each keeps the environment, the search and the
/// insight filter.
fn tabs(current: StatusFilter, env: EnvFilter, q: &str, insight: InsightFilter) -> Vec<Tab> {
    StatusFilter::ALL
        .iter()
        .map(|&f| Tab { label: f.label(), href: insight_href(f, env, q, 1, insight), current: f == current })
        .collect()
}

/// One link per environment, the current one marked; each keeps the status, the search and
/// the insight filter.
fn env_tabs(status: StatusFilter, current: EnvFilter, q: &str, insight: InsightFilter) -> Vec<Tab> {
    EnvFilter::ALL
        .iter()
        .map(|&e| Tab {
            label: e.label(),
            href: insight_href(status, e, q, 1, insight),
            current: e == current,
        })
        .collect()
}

/// The four workspace figures as links: each filters the whole table (every status and
/// environment, no search, as the figures count), the one in force marked.
fn insight_links(counts: Vec<InsightCount>, current: InsightFilter) -> Vec<InsightLink> {
    counts
        .into_iter()
        .map(|InsightCount { filter: f, count, more }| InsightLink {
            key: f.as_str(),
            label: match f {
                InsightFilter::Stale => "Stale",
                InsightFilter::Expiring => "Expiring this week",
                InsightFilter::NoExpiry => "Without expiration",
                InsightFilter::Busiest | InsightFilter::None => "Busiest this week",
            },
            hint: match f {
                InsightFilter::Stale => "active, unused for 30+ days",
                InsightFilter::Expiring => "within 7 days",
                InsightFilter::NoExpiry => "never expire on their own",
                InsightFilter::Busiest | InsightFilter::None => "top 10 by requests, 7 days",
            },
            count: if more { format!("{count}+") } else { count.to_string() },
            href: insight_href(StatusFilter::All, EnvFilter::All, "", 1, f),
            current: f == current,
        })
        .collect()
}

pub async fn key_list(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ConsoleError> {
    let status = StatusFilter::parse(&params.status);
    let env = EnvFilter::parse(&params.env);
    let q = search_text(&params.q);
    let page = params.page.parse::<i64>().unwrap_or(1).clamp(1, 1_000_000);
    let insight = InsightFilter::parse(&params.insight);
    let now = Utc::now().naive_utc();
    let query = ListQuery { status, env, search: q.clone(), page, insight, ..ListQuery::default() };
    let ws = member.workspace_id;
    let (result, has_any, matching, counts) = state
        .db
        .run(move |conn| -> Result<_, DbError> {
            let result = store::list(conn, ws, &query, now)?;
            let has_any = !result.keys.is_empty() || store::workspace_has_keys(conn, ws)?;
            let matching = if result.has_next || query.page > 1 {
                store::count_matching(conn, ws, &query, now)?
            } else {
                result.keys.len() as i64
            };
            let counts = if has_any { store::insight_counts(conn, ws, now)? } else { Vec::new() };
            Ok((result, has_any, matching, counts))
        })
        .await?;
    // The banner repeats the "expiring this week" figure, as a warning that links to them.
    let (expiring_this_week, expiring_more) =
        counts.iter().find(|c| c.filter == InsightFilter::Expiring).map_or((0, false), |c| (c.count, c.more));
    let catalogue = state.catalogue.clone();
    let keys = result.keys.into_iter().map(|k| KeyView::new(k, &result.emails, &catalogue, now)).collect();
    render(&KeyListPage {
        ctx: PageCtx::for_member(&member, &session, "keys"),
        keys,
        can_manage: member.can(Capability::ManageKeys),
        workspace_empty: !has_any,
        tabs: tabs(status, env, &q, insight),
        status: status.as_str(),
        status_label: status.label(),
        env_tabs: env_tabs(status, env, &q, insight),
        env: env.as_str(),
        prev_href: (page > 1).then(|| insight_href(status, env, &q, page - 1, insight)),
        next_href: result.has_next.then(|| insight_href(status, env, &q, page + 1, insight)),
        insights: insight_links(counts, insight),
        insight: insight.as_str(),
        insight_label: insight.label(),
        clear_insight_href: href(status, env, &q, 1),
        requests_this_week: result.requests_this_week,
        q,
        page,
        matching,
        expiring_this_week,
        expiring_more,
        expiring_href: insight_href(StatusFilter::All, EnvFilter::All, "", 1, InsightFilter::Expiring),
    })
}
