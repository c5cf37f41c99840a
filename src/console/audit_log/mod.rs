//! `GET /settings/audit-log` and its CSV download `/settings/audit-log.csv`: who did what to
//! which key, when and from where. Every member, viewers included, may read it.

pub mod csv;
pub mod query;

use actix_web::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use self::query::{CSV_MAX_ROWS, EventRow, Filter, PAGE_SIZE};
use super::api_keys::{exact, iso};
use super::error::ConsoleError;
use super::member::Member;
use super::pages::{PageCtx, render};
use super::session::TypedSession;
use crate::db::DbError;
use crate::state::AppState;

/// Every action the log knows, for the filter.
pub const ACTIONS: [&str; 11] = [
    "key.created",
    "key.revealed",
    "key.regenerated",
    "key.revoked",
    "key.deleted",
    "user.signed_in",
    "user.sign_in_failed",
    "member.added",
    "member.role_changed",
    "member.removed",
    "workspace.created",
];

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings/audit-log", web::get().to(audit_log))
        .route("/settings/audit-log.csv", web::get().to(audit_log_csv));
}

#[derive(Default, Deserialize)]
pub struct AuditParams {
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub page: String,
}

impl AuditParams {
    fn filter(&self) -> Filter {
        let action = self.action.trim();
        Filter {
            action: if ACTIONS.contains(&action) { action.to_owned() } else { String::new() },
            key: self.key.trim().chars().take(64).collect(),
        }
    }

    fn page(&self) -> i64 {
        self.page.parse::<i64>().unwrap_or(1).clamp(1, 1_000_000)
    }
}

/// `?action=…&key=…&page=…` for links that keep the filters.
fn href(base: &str, filter: &Filter, page: i64) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    if !filter.action.is_empty() {
        q.append_pair("action", &filter.action);
    }
    if !filter.key.is_empty() {
        q.append_pair("key", &filter.key);
    }
    if page > 1 {
        q.append_pair("page", &page.to_string());
    }
    let q = q.finish();
    if q.is_empty() { base.to_owned() } else { format!("{base}?{q}") }
}

pub struct EventView {
    pub iso: String,
    pub exact: String,
    pub row: EventRow,
}

#[derive(Template)]
#[template(path = "audit/log.html")]
pub struct AuditLogPage {
    pub ctx: PageCtx,
    pub events: Vec<EventView>,
    pub actions: &'static [&'static str],
    pub filter: Filter,
    pub page: i64,
    pub prev_href: Option<String>,
    pub next_href: Option<String>,
    pub csv_href: String,
}

pub async fn audit_log(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    params: web::Query<AuditParams>,
) -> Result<HttpResponse, ConsoleError> {
    let filter = params.filter();
    let page = params.page();
    let ws = member.workspace_id;
    let f = filter.clone();
    let mut rows = state
        .db
        .run(move |conn| {
            query::events(conn, ws, &f, PAGE_SIZE + 1, (page - 1) * PAGE_SIZE).map_err(DbError::from)
        })
        .await?;
    let has_next = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    let events =
        rows.into_iter().map(|row| EventView { iso: iso(row.at), exact: exact(row.at), row }).collect();
    render(&AuditLogPage {
        ctx: PageCtx::for_member(&member, &session, "audit"),
        events,
        actions: &ACTIONS,
        prev_href: (page > 1).then(|| href("/settings/audit-log", &filter, page - 1)),
        next_href: has_next.then(|| href("/settings/audit-log", &filter, page + 1)),
        csv_href: href("/settings/audit-log.csv", &filter, 1),
        filter,
        page,
    })
}

/// The whole filtered log (up to 100,000 events) as CSV, with a header row.
pub async fn audit_log_csv(
    state: web::Data<AppState>,
    member: Member,
    params: web::Query<AuditParams>,
) -> Result<HttpResponse, ConsoleError> {
    let filter = params.filter();
    let ws = member.workspace_id;
    let rows = state
        .db
        .run(move |conn| query::events(conn, ws, &filter, CSV_MAX_ROWS, 0).map_err(DbError::from))
        .await?;
    let mut body =
        csv::row(["time_utc", "actor", "action", "key_name", "key_masked", "ip", "user_agent", "details"]);
    for r in &rows {
        let at = iso(r.at);
        body.push_str(&csv::row([
            at.as_str(),
            r.actor.as_str(),
            r.action.as_str(),
            r.key_name.as_deref().unwrap_or(""),
            r.key_masked.as_deref().unwrap_or(""),
            r.ip.as_deref().unwrap_or(""),
            r.user_agent.as_deref().unwrap_or(""),
            r.details.as_str(),
        ]));
    }
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header((CONTENT_DISPOSITION, "attachment; filename=\"keyward-audit-log.csv\""))
        .insert_header((CACHE_CONTROL, "no-store"))
        .body(body))
}
