//! `GET /settings/audit-log` and its CSV download `/settings/audit-log.csv`: who did what to
//! which key, when and from where. Every member, viewers included, may read it.

pub mod csv;
pub mod query;

use actix_web::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::NaiveDate;
use serde::Deserialize;

use self::query::{CSV_MAX_ROWS, EventRow, Filter, PAGE_SIZE};
use super::dates::{exact, iso};
use super::error::ConsoleError;
use super::member::Member;
use super::pages::{PageCtx, render};
use super::session::TypedSession;
use crate::db::DbError;
use crate::state::AppState;

/// Every action the log knows, with the words the page shows for it. The code stays in the
/// page (`data-action`), the filter's URL and the CSV, where scripts read it.
pub const ACTIONS: &[(&str, &str)] = &[
    ("key.created", "Key created"),
    ("key.revealed", "Key revealed"),
    ("key.regenerated", "Key regenerated"),
    ("key.revoked", "Key revoked"),
    ("key.updated", "Key edited"),
    ("key.disabled", "Key disabled"),
    ("key.enabled", "Key enabled"),
    ("key.permissions_changed", "Key permissions changed"),
    ("key.deleted", "Key deleted"),
    ("user.signed_in", "Signed in"),
    ("user.sign_in_failed", "Sign-in failed"),
    ("user.password_changed", "Password changed"),
    ("user.password_reset_started", "Password reset link made"),
    ("user.password_reset", "Password reset"),
    ("session.revoked", "Session signed out"),
    ("member.added", "Member added"),
    ("invitation.sent", "Invitation sent"),
    ("invitation.revoked", "Invitation revoked"),
    ("invitation.accepted", "Invitation accepted"),
    ("member.role_changed", "Role changed"),
    ("member.removed", "Member removed"),
    ("workspace.created", "Workspace created"),
    ("user.two_factor_enabled", "Two-factor sign-in turned on"),
    ("user.two_factor_disabled", "Two-factor sign-in turned off"),
    ("user.recovery_codes_regenerated", "Recovery codes regenerated"),
    ("workspace.two_factor_required", "Two-factor sign-in required"),
    ("workspace.two_factor_optional", "Two-factor sign-in made optional"),
    ("webhook.created", "Webhook endpoint added"),
    ("webhook.updated", "Webhook endpoint changed"),
    ("webhook.deleted", "Webhook endpoint deleted"),
    ("webhook.disabled", "Webhook endpoint disabled"),
    ("webhook.enabled", "Webhook endpoint enabled"),
    ("webhook.secret_rotated", "Webhook signing secret replaced"),
    ("policy.changed", "Policies changed"),
    ("key.expiry_reminder", "Expiry reminder sent"),
    ("key.expired", "Key expired"),
    ("key.unused_warning", "Unused key warned"),
    ("key.leaked", "Key reported leaked"),
];

/// The words for an action code; an unknown code (from a later version) shows as itself.
pub fn action_words(code: &str) -> &str {
    ACTIONS.iter().find(|(c, _)| *c == code).map_or(code, |(_, words)| words)
}

/// A short "Chrome on Linux" for a user agent; the whole string stays on hover and in the CSV.
pub fn client_summary(ua: &str) -> String {
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Chromium/", "Chromium"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("python-requests/", "Python requests"),
        ("Go-http-client/", "Go"),
        ("reqwest", "reqwest"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    let os = [
        ("Windows", "Windows"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Android", "Android"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    match (browser, os) {
        (Some(b), Some(o)) => format!("{b} on {o}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(o)) => o.to_owned(),
        (None, None) => ua.chars().take(24).collect(),
    }
}

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
    /// One key's events, by id; anything but a positive number is ignored.
    #[serde(default)]
    pub key_id: String,
    #[serde(default)]
    pub page: String,
    /// The first day shown (UTC, `YYYY-MM-DD` from the date field), inclusive.
    #[serde(default)]
    pub from: String,
    /// The last day shown, inclusive.
    #[serde(default)]
    pub to: String,
}

/// Why a date filter was not applied, beside its field.
#[derive(Default)]
pub struct DateErrors {
    pub from: Option<&'static str>,
    pub to: Option<&'static str>,
}

/// A day from the date field; empty is no bound.
fn parse_day(raw: &str) -> Result<Option<NaiveDate>, &'static str> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").map(Some).map_err(|_| "Pick a day with the date picker.")
}

impl AuditParams {
    /// The filter, and what was wrong with the dates (a bad bound is left out, not guessed).
    fn filter(&self) -> (Filter, DateErrors) {
        let action = self.action.trim();
        let mut errors = DateErrors::default();
        let from = parse_day(&self.from).unwrap_or_else(|e| {
            errors.from = Some(e);
            None
        });
        let mut to = parse_day(&self.to).unwrap_or_else(|e| {
            errors.to = Some(e);
            None
        });
        if let (Some(f), Some(t)) = (from, to)
            && t < f
        {
            errors.to = Some("The last day comes before the first; pick a later one.");
            to = None;
        }
        let filter = Filter {
            action: if ACTIONS.iter().any(|(c, _)| *c == action) { action.to_owned() } else { String::new() },
            key: self.key.trim().chars().take(64).collect(),
            key_id: self.key_id.trim().parse::<i64>().ok().filter(|id| *id > 0),
            from,
            to,
        };
        (filter, errors)
    }

    fn page(&self) -> i64 {
        self.page.parse::<i64>().unwrap_or(1).clamp(1, 1_000_000)
    }
}

/// `?action=…&key=…&key_id=…&page=…` for links that keep the filters.
fn href(base: &str, filter: &Filter, page: i64) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    if !filter.action.is_empty() {
        q.append_pair("action", &filter.action);
    }
    if !filter.key.is_empty() {
        q.append_pair("key", &filter.key);
    }
    if let Some(id) = filter.key_id {
        q.append_pair("key_id", &id.to_string());
    }
    if let Some(d) = filter.from {
        q.append_pair("from", &d.to_string());
    }
    if let Some(d) = filter.to {
        q.append_pair("to", &d.to_string());
    }
    if page > 1 {
        q.append_pair("page", &page.to_string());
    }
    let q = q.finish();
    if q.is_empty() { base.to_owned() } else { format!("{base}?{q}") }
}

/// The key the log is narrowed to (`?key_id=`), as its newest event names it.
pub struct KeyScope {
    pub id: i64,
    pub name: Option<String>,
    pub masked: Option<String>,
    /// The same page without the key filter (other filters kept).
    pub clear_href: String,
}

pub struct EventView {
    pub iso: String,
    pub exact: String,
    pub action_words: String,
    /// "Chrome on Linux", when the event has a user agent.
    pub client: Option<String>,
    pub row: EventRow,
}

impl EventView {
    fn new(row: EventRow) -> Self {
        Self {
            iso: iso(row.at),
            exact: exact(row.at),
            action_words: action_words(&row.action).to_owned(),
            client: row.user_agent.as_deref().map(client_summary),
            row,
        }
    }
}

#[derive(Template)]
#[template(path = "audit/log.html")]
pub struct AuditLogPage {
    pub ctx: PageCtx,
    pub events: Vec<EventView>,
    pub actions: &'static [(&'static str, &'static str)],
    pub filter: Filter,
    /// The date fields as typed, and their errors.
    pub from: String,
    pub to: String,
    pub date_errors: DateErrors,
    pub key_scope: Option<KeyScope>,
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
    let (filter, date_errors) = params.filter();
    let page = params.page();
    let ws = member.workspace_id;
    let f = filter.clone();
    let (mut rows, label) = state
        .db
        .run(move |conn| {
            let rows = query::events(conn, ws, &f, PAGE_SIZE + 1, (page - 1) * PAGE_SIZE)?;
            let label = match f.key_id {
                Some(id) => query::key_label(conn, ws, id)?,
                None => None,
            };
            Ok::<_, DbError>((rows, label))
        })
        .await?;
    let key_scope = filter.key_id.map(|id| {
        let (name, masked) = label.unwrap_or_default();
        let clear_href = href("/settings/audit-log", &Filter { key_id: None, ..filter.clone() }, 1);
        KeyScope { id, name, masked, clear_href }
    });
    let has_next = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    let events = rows.into_iter().map(EventView::new).collect();
    render(&AuditLogPage {
        ctx: PageCtx::for_member(&member, &session, "audit"),
        events,
        actions: ACTIONS,
        prev_href: (page > 1).then(|| href("/settings/audit-log", &filter, page - 1)),
        next_href: has_next.then(|| href("/settings/audit-log", &filter, page + 1)),
        csv_href: href("/settings/audit-log.csv", &filter, 1),
        from: params.from.trim().chars().take(10).collect(),
        to: params.to.trim().chars().take(10).collect(),
        date_errors,
        filter,
        key_scope,
        page,
    })
}

/// The response header set when the download stopped at [`CSV_MAX_ROWS`] events.
pub const TRUNCATED_HEADER: &str = "x-keyward-truncated";

/// The whole filtered log (up to 100,000 events) as CSV, with a header row. When more events
/// match, the file ends with a row saying so (and the response carries [`TRUNCATED_HEADER`]),
/// so an admin never mistakes a cut log for the whole of it.
pub async fn audit_log_csv(
    state: web::Data<AppState>,
    member: Member,
    params: web::Query<AuditParams>,
) -> Result<HttpResponse, ConsoleError> {
    let (filter, _) = params.filter();
    let ws = member.workspace_id;
    // One more than the cap: whether it comes back tells whether the file is cut.
    let rows = state
        .db
        .run(move |conn| query::events(conn, ws, &filter, CSV_MAX_ROWS + 1, 0).map_err(DbError::from))
        .await?;
    let (body, truncated) = csv_body(&rows, CSV_MAX_ROWS as usize);
    let mut res = HttpResponse::Ok();
    res.insert_header((CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header((CONTENT_DISPOSITION, "attachment; filename=\"keyward-audit-log.csv\""))
        .insert_header((CACHE_CONTROL, "no-store"));
    if truncated {
        res.insert_header((TRUNCATED_HEADER, CSV_MAX_ROWS.to_string()));
    }
    Ok(res.body(body))
}

/// The CSV of the first `cap` rows; when there are more, a last row says the file is cut.
fn csv_body(rows: &[EventRow], cap: usize) -> (String, bool) {
    let mut sheet = csv::Sheet::default();
    sheet.row(["time_utc", "actor", "action", "key_name", "key_masked", "ip", "user_agent", "details"]);
    for r in rows.iter().take(cap) {
        let at = iso(r.at);
        sheet.row([
            at.as_str(),
            r.actor.as_str(),
            r.action.as_str(),
            r.key_name.as_deref().unwrap_or(""),
            r.key_masked.as_deref().unwrap_or(""),
            r.ip.as_deref().unwrap_or(""),
            r.user_agent.as_deref().unwrap_or(""),
            r.details.as_str(),
        ]);
    }
    let truncated = rows.len() > cap;
    if truncated {
        let note = truncated_note(cap);
        // In the first column, where the eye lands at the bottom of a spreadsheet.
        sheet.row([note.as_str(), "", "", "", "", "", "", ""]);
    }
    (sheet.finish(), truncated)
}

/// The last row's text when the download is cut.
fn truncated_note(cap: usize) -> String {
    format!(
        "TRUNCATED: this file holds only the newest {cap} matching events; older ones were left out. \
         Filter by action or key to download them."
    )
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    fn event(id: i64) -> EventRow {
        EventRow {
            id,
            at: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap().and_hms_opt(12, 0, 0).unwrap(),
            actor: "owner@example.com".into(),
            action: "key.created".into(),
            key_id: None,
            key_name: None,
            key_masked: None,
            ip: None,
            user_agent: None,
            details: format!("event {id}"),
        }
    }

    #[test]
    fn user_agents_read_as_browser_and_system() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
        assert_eq!(client_summary(chrome), "Chrome on Linux");
        let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Version/18.0 Mobile/15E148 Safari/604.1";
        assert_eq!(client_summary(safari), "Safari on iOS");
        assert_eq!(client_summary("curl/8.5.0"), "curl");
        assert_eq!(client_summary("a-very-long-custom-agent-string/1.0"), "a-very-long-custom-agent");
        assert_eq!(action_words("key.revealed"), "Key revealed");
        assert_eq!(action_words("future.thing"), "future.thing");
    }

    #[test]
    fn a_download_cut_at_the_cap_ends_with_a_row_saying_so() {
        let rows: Vec<EventRow> = (1..=3).map(event).collect();
        let (whole, truncated) = csv_body(&rows, 3);
        assert!(!truncated);
        assert_eq!(whole.lines().count(), 4);
        assert!(!whole.contains("TRUNCATED"));

        let (cut, truncated) = csv_body(&rows, 2);
        assert!(truncated);
        let lines: Vec<&str> = cut.split_terminator("\r\n").collect();
        assert_eq!(lines.len(), 4, "header, two events, the note: {cut}");
        assert!(lines[2].contains("event 2") && !cut.contains("event 3"));
        assert_eq!(lines[3], format!("\"{}\",\"\",\"\",\"\",\"\",\"\",\"\",\"\"", truncated_note(2)));
        assert!(lines[3].contains("only the newest 2 matching events"));
    }
}
