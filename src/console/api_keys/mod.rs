//! Settings → API Keys: the table, a page per key (`show`, with its usage `chart`), the create
//! form, the show-once reveal and the confirmed actions (regenerate, revoke, delete). One file per action area; each form's
//! `FormData` struct sits beside its handler.

pub mod bulk;
pub mod chart;
pub mod create;
pub mod delete;
pub mod disable;
pub mod edit;
pub mod list;
pub mod picker;
pub mod regenerate;
pub mod reveal;
pub mod revoke;
pub mod show;

use std::collections::HashMap;

use actix_web::http::header::{CACHE_CONTROL, HeaderValue};
use actix_web::{HttpResponse, web};
use chrono::{NaiveDateTime, TimeDelta};

use crate::console::dates::Moment;

use super::error::ConsoleError;
use super::session::{PendingReveal, TypedSession};
use crate::keys::store::{KeyRow, Status};
use crate::keys::{Catalogue, Issued, PermissionSet};

/// Registers the API-key routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/settings/api-keys")
            .route(web::get().to(list::key_list))
            .route(web::post().to(create::key_create)),
    )
    .route("/settings/api-keys/new", web::get().to(create::key_create_form))
    .route("/settings/api-keys/{id}/reveal", web::get().to(reveal::key_reveal))
    .service(
        web::resource("/settings/api-keys/{id}/regenerate")
            .route(web::get().to(regenerate::key_regenerate_form))
            .route(web::post().to(regenerate::key_regenerate)),
    )
    .service(
        web::resource("/settings/api-keys/{id}/revoke")
            .route(web::get().to(revoke::key_revoke_form))
            .route(web::post().to(revoke::key_revoke)),
    )
    .service(
        web::resource("/settings/api-keys/{id}/delete")
            .route(web::get().to(delete::key_delete_form))
            .route(web::post().to(delete::key_delete)),
    )
    .service(
        web::resource("/settings/api-keys/{id}/edit")
            .route(web::get().to(edit::key_edit_form))
            .route(web::post().to(edit::key_edit)),
    )
    .service(
        web::resource("/settings/api-keys/{id}/disable")
            .route(web::get().to(disable::key_disable_form))
            .route(web::post().to(disable::key_disable)),
    )
    .route("/settings/api-keys/{id}/enable", web::post().to(disable::key_enable))
    .service(
        web::resource("/settings/api-keys/bulk")
            .route(web::get().to(bulk::bulk_form))
            .route(web::post().to(bulk::bulk_apply)),
    )
    // Last: `{id}` would otherwise take `new` and `bulk`.
    .route("/settings/api-keys/{id}", web::get().to(show::key_page));
}

/// A key id from the URL; anything but a positive integer is simply not found.
pub fn parse_key_id(raw: &str) -> Result<i64, ConsoleError> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or(ConsoleError::NotFound)
}

/// Marks a response as never to be stored by the browser or any cache on the way: for pages
/// and redirects that carry, or lead to, a secret.
pub fn no_store(mut res: HttpResponse) -> HttpResponse {
    res.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The stylesheet's class for a key's status badge (templates call `status.css_class()`).
pub trait StatusClass {
    fn css_class(self) -> &'static str;
}

impl StatusClass for Status {
    fn css_class(self) -> &'static str {
        match self {
            Self::Active => "status-active",
            Self::Disabled => "status-disabled",
            Self::Expired => "status-expired",
            Self::Revoked => "status-revoked",
        }
    }
}

/// One permission badge: the scope's label, its id on hover.
pub struct Badge {
    pub text: String,
    pub title: String,
    pub full: bool,
}

/// The badges for a stored permission set: one "Full access" badge, or one per scope. A scope
/// the catalogue no longer has shows its id, since it has no label any more.
pub fn badges(stored: &str, catalogue: &Catalogue) -> Vec<Badge> {
    match PermissionSet::from_stored(stored) {
        PermissionSet::Full => vec![Badge {
            text: "Full access".into(),
            title: "Every permission, including ones added later".into(),
            full: true,
        }],
        PermissionSet::Scopes(set) => set
            .into_iter()
            .map(|id| match catalogue.label(&id) {
                Some(label) => Badge { text: label.to_owned(), title: id, full: false },
                None => Badge { title: format!("{id}: no longer in the catalogue"), text: id, full: false },
            })
            .collect(),
    }
}

/// When a key stops working, as the table and the reveal page show it.
pub struct ExpiresView {
    pub at: Option<Moment>,
    /// Within the next 7 days: highlighted with "in N days".
    pub soon: bool,
    pub past: bool,
}

impl ExpiresView {
    pub fn new(expires_at: Option<NaiveDateTime>, now: NaiveDateTime) -> Self {
        let soon = expires_at.is_some_and(|e| e > now && e - now <= TimeDelta::days(7));
        let past = expires_at.is_some_and(|e| e <= now);
        Self { at: expires_at.map(|e| Moment::new(e, now)), soon, past }
    }
}

/// Everything one table row shows.
pub struct KeyView {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub masked: String,
    pub badges: Vec<Badge>,
    pub created: Moment,
    /// Who made it; `None` when no user is recorded (see [`who`]).
    pub created_by: Option<String>,
    pub regenerated: Option<Moment>,
    pub last_used: Option<Moment>,
    pub last_used_ip: Option<String>,
    pub expires: ExpiresView,
    pub status: Status,
    pub revoked: Option<Moment>,
    pub revoked_by: Option<String>,
    /// The key's own limits in words ("6,000 requests/min, burst 100"), when it has any.
    pub limits: Option<String>,
    pub disabled: Option<Moment>,
    pub disabled_by: Option<String>,
    /// A replaced secret still in its grace period: its masked form and when it stops.
    pub old_secret: Option<(String, Moment)>,
    /// A test key (`kw_test_`): badged beside its name.
    pub test: bool,
    /// The key's IP allowlist, when it has one: ("IP: 2 ranges", the ranges for the title).
    pub allowlist: Option<(String, String)>,
}

/// The table's short note on an allowlist, and its ranges for the hover.
fn allowlist_note(list: &crate::keys::AllowList) -> (String, String) {
    let n = list.len();
    let text = if n == 1 { "IP: 1 range".to_owned() } else { format!("IP: {n} ranges") };
    (text, list.to_string())
}

/// A key's own rate limit and burst as the table shows them; `None` when both are the defaults.
fn limits_in_words(per_minute: Option<i32>, burst: Option<i32>) -> Option<String> {
    match (per_minute, burst) {
        (None, None) => None,
        (Some(rate), None) => Some(format!("{} requests/min", grouped(rate))),
        (Some(rate), Some(burst)) => {
            Some(format!("{} requests/min, burst {}", grouped(rate), grouped(burst)))
        }
        (None, Some(burst)) => Some(format!("the default rate, burst {}", grouped(burst))),
    }
}

/// `6000` → `6,000`: figures of four digits and more are easier to read in groups.
fn grouped(n: i32) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// Who a user id was, for "Created by": their email. `None` when no user is recorded: the
/// command line, a lifecycle rule and a management token act as no user, and a deleted
/// account's id is cleared, so the pages then say no "by" at all rather than guess.
fn who(id: Option<i64>, emails: &HashMap<i64, String>) -> Option<String> {
    id.and_then(|id| emails.get(&id).cloned())
}

impl KeyView {
    pub fn new(k: KeyRow, emails: &HashMap<i64, String>, catalogue: &Catalogue, now: NaiveDateTime) -> Self {
        Self {
            id: k.id,
            masked: k.masked(),
            badges: badges(&k.permissions, catalogue),
            created: Moment::new(k.created_at, now),
            created_by: who(k.created_by, emails),
            regenerated: k.regenerated_at.map(|t| Moment::new(t, now)),
            last_used: k.last_used_at.map(|t| Moment::new(t, now)),
            last_used_ip: k.last_used_ip.clone(),
            expires: ExpiresView::new(k.expires_at, now),
            status: k.status(now),
            revoked: k.revoked_at.map(|t| Moment::new(t, now)),
            revoked_by: who(k.revoked_by, emails),
            limits: limits_in_words(k.rate_limit_per_minute, k.rate_limit_burst),
            disabled: k.disabled_at.map(|t| Moment::new(t, now)),
            disabled_by: who(k.disabled_by, emails),
            old_secret: k.previous_secret(now).map(|(masked, until)| (masked, Moment::new(until, now))),
            test: k.environment() == crate::keys::Environment::Test,
            allowlist: k.allow_list().map(|l| allowlist_note(&l)),
            name: k.name,
            description: k.description,
        }
    }

    pub fn is_revoked(&self) -> bool {
        self.status == Status::Revoked
    }

    /// Neither revoked, expired nor disabled: the table mutes the others and offers only what
    /// applies.
    pub fn works(&self) -> bool {
        self.status == Status::Active
    }

    pub fn is_disabled(&self) -> bool {
        self.status == Status::Disabled
    }

    /// Active or disabled: revoking an expired key would change nothing a client sees.
    pub fn can_revoke(&self) -> bool {
        matches!(self.status, Status::Active | Status::Disabled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(d: u32, h: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, d).unwrap().and_hms_opt(h, 0, 0).unwrap()
    }

    #[test]
    fn expiry_is_highlighted_only_within_seven_days() {
        let now = at(23, 12);
        assert!(ExpiresView::new(Some(at(28, 12)), now).soon);
        assert!(!ExpiresView::new(Some(now + TimeDelta::days(8)), now).soon);
        assert!(!ExpiresView::new(None, now).soon);
        let past = ExpiresView::new(Some(at(22, 12)), now);
        assert!(past.past && !past.soon);
    }

    #[test]
    fn limits_read_in_words_with_grouped_figures() {
        assert_eq!(limits_in_words(None, None), None);
        assert_eq!(limits_in_words(Some(250), None).as_deref(), Some("250 requests/min"));
        assert_eq!(limits_in_words(Some(6000), Some(100)).as_deref(), Some("6,000 requests/min, burst 100"));
        assert_eq!(limits_in_words(None, Some(40)).as_deref(), Some("the default rate, burst 40"));
        assert_eq!(grouped(100_000), "100,000");
        assert_eq!(grouped(1_000_000), "1,000,000");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(-1234), "-1,234");
    }

    #[test]
    fn no_recorded_user_says_no_name_rather_than_a_removed_one() {
        let emails = HashMap::from([(7, "owner@example.com".to_owned())]);
        assert_eq!(who(Some(7), &emails).as_deref(), Some("owner@example.com"));
        // The command line, lifecycle rules and management tokens record no user.
        assert_eq!(who(None, &emails), None);
    }

    #[test]
    fn ids_must_be_positive_integers() {
        assert_eq!(parse_key_id("42").unwrap(), 42);
        for bad in ["0", "-1", "x", "1.5", ""] {
            assert!(matches!(parse_key_id(bad), Err(ConsoleError::NotFound)));
        }
    }
}

/// The confirmation shown before regenerate, revoke and delete: a page of its own without
/// JavaScript, lifted into a `<dialog>` (its `[data-confirm-panel]`) with it.
#[derive(askama::Template)]
#[template(path = "api_keys/confirm.html")]
pub struct ConfirmPage {
    pub ctx: super::pages::PageCtx,
    /// `regenerate`, `revoke` or `delete`: the last part of the form's URL.
    pub action: &'static str,
    pub heading: String,
    pub id: i64,
    pub name: String,
    pub masked: String,
    pub status: Status,
    /// What happens, in plain words.
    pub consequences: Vec<String>,
    pub button: &'static str,
    pub button_class: &'static str,
    /// Set when the action cannot be done to this key; the form is then left out.
    pub refusal: Option<String>,
    /// A choice the action asks for (regenerate: when the old secret stops).
    pub choices: Option<ChoiceGroup>,
}

/// A group of radio buttons on a confirmation.
pub struct ChoiceGroup {
    pub legend: &'static str,
    /// The form field's name.
    pub name: &'static str,
    pub options: Vec<ChoiceOption>,
    pub error: Option<String>,
}

pub struct ChoiceOption {
    pub value: &'static str,
    pub label: &'static str,
    /// What choosing it comes to ("until 3 Dec 2026, 14:05 UTC").
    pub hint: String,
    pub checked: bool,
}

/// The confirm form carries nothing but its CSRF token.
#[derive(serde::Deserialize)]
pub struct ConfirmFormData {}

/// A key of the member's workspace, by the id in the URL; 404 otherwise.
pub async fn load_key(
    state: &crate::state::AppState,
    workspace_id: i64,
    raw_id: &str,
) -> Result<KeyRow, ConsoleError> {
    Ok(crate::keys::ops::find(&state.db, workspace_id, parse_key_id(raw_id)?).await?)
}

/// After a key is issued: its secret goes into the encrypted session for the reveal page,
/// which shows it once.
pub fn reveal_next(session: &TypedSession, issued: Issued) -> Result<HttpResponse, ConsoleError> {
    let Issued { id, secret, .. } = issued;
    session
        .set_pending_reveal(&PendingReveal { key_id: id, secret: secret.expose().to_owned() })
        .map_err(anyhow::Error::from)?;
    Ok(no_store(super::see_other(&format!("/settings/api-keys/{id}/reveal"))))
}
