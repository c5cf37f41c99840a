//! *Settings → Workspace settings* (owners): whether the workspace requires two-factor sign-in
//! of every member. Changing it asks for re-authentication (`console::sudo`).

use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{NaiveDateTime, Utc};
use serde::Deserialize;

use super::csrf::CsrfForm;
use super::error::ConsoleError;
use super::flash::{self, Level};
use super::member::Member;
use super::pages::{PageCtx, render, render_status};
use super::see_other;
use super::session::TypedSession;
use super::sudo::{self, SudoField};
use crate::accounts::Capability;
use crate::accounts::two_factor;
use crate::audit::{self, Event};
use crate::db::DbError;
use crate::state::AppState;

pub const PATH: &str = "/settings/workspace";

/// Registers the workspace settings page.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(PATH)
            .route(web::get().to(workspace_settings))
            .route(web::post().to(workspace_settings_save)),
    );
}

#[derive(Template)]
#[template(path = "workspaces/settings.html")]
pub struct SettingsPage {
    pub ctx: PageCtx,
    pub workspace_name: String,
    /// What the checkbox shows: as stored, or as the user just chose.
    pub require_two_factor: bool,
    pub required_since: Option<String>,
    /// The acting owner has two-factor on (required before turning the requirement on).
    pub own_two_factor: bool,
    pub two_factor_error: Option<String>,
    pub sudo: SudoField,
}

impl SettingsPage {
    /// Whether the error summary is shown.
    pub fn has_errors(&self) -> bool {
        self.two_factor_error.is_some() || self.sudo.error.is_some()
    }
}

struct Current {
    required_since: Option<NaiveDateTime>,
    own_two_factor: bool,
}

async fn current(state: &AppState, member: &Member) -> Result<Current, ConsoleError> {
    let (ws, user_id) = (member.workspace_id, member.user_id);
    state
        .db
        .run(move |conn| -> Result<Current, DbError> {
            Ok(Current {
                required_since: two_factor::store::required_since(conn, ws)?,
                own_two_factor: two_factor::store::is_enabled(conn, user_id)?,
            })
        })
        .await
        .map_err(ConsoleError::from)
}

fn page(
    member: &Member,
    session: &TypedSession,
    cur: &Current,
    require_two_factor: bool,
    two_factor_error: Option<String>,
    sudo: SudoField,
) -> SettingsPage {
    SettingsPage {
        ctx: PageCtx::for_member(member, session, "workspace"),
        workspace_name: member.workspace_name.clone(),
        require_two_factor,
        required_since: cur.required_since.map(super::dates::date),
        own_two_factor: cur.own_two_factor,
        two_factor_error,
        sudo,
    }
}

pub async fn workspace_settings(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageMembers)?;
    let cur = current(&state, &member).await?;
    let required = cur.required_since.is_some();
    render(&page(&member, &session, &cur, required, None, SudoField::for_member(&member)))
}

#[derive(Default, Deserialize)]
pub struct SettingsFormData {
    /// A checkbox: present ("on") when ticked.
    #[serde(default)]
    pub require_two_factor: Option<String>,
    #[serde(default)]
    pub confirm_identity: String,
}

/// What saving the settings came to.
enum Saved {
    Changed,
    Unchanged,
    OwnTwoFactorMissing,
}

pub const OWN_TWO_FACTOR_FIRST: &str = "Turn on two-factor sign-in for your own account first: a \
    workspace that requires it of every member must not lock out the owner who asked for it.";

pub async fn workspace_settings_save(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    CsrfForm(form): CsrfForm<SettingsFormData>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageMembers)?;
    let want = form.require_two_factor.is_some();
    let cur = current(&state, &member).await?;
    if want == cur.required_since.is_some() {
        flash::push(session.inner(), Level::Success, "Nothing changed.");
        return Ok(see_other(PATH));
    }
    if want && !cur.own_two_factor {
        let page = page(
            &member,
            &session,
            &cur,
            want,
            Some(OWN_TWO_FACTOR_FIRST.into()),
            SudoField::for_member(&member),
        );
        return render_status(actix_web::http::StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    if let Err(field) = sudo::guard(&state, &member, &form.confirm_identity).await? {
        let (code, wait) = (field.status(), field.retry_after);
        let res = render_status(code, &page(&member, &session, &cur, want, None, field))?;
        return Ok(sudo::with_wait(res, wait));
    }
    let (ws, user_id, actor) = (member.workspace_id, member.user_id, member.actor());
    let now = Utc::now().naive_utc();
    let changed = state
        .db
        .write(move |conn| -> Result<Saved, ConsoleError> {
            // Checked again in the transaction: the owner may have turned theirs off meanwhile.
            if want && !two_factor::store::is_enabled(conn, user_id)? {
                return Ok(Saved::OwnTwoFactorMissing);
            }
            if !two_factor::store::set_required(conn, ws, want, now)? {
                return Ok(Saved::Unchanged);
            }
            let (action, details) = if want {
                ("workspace.two_factor_required", "Two-factor sign-in required of every member")
            } else {
                ("workspace.two_factor_optional", "Two-factor sign-in no longer required")
            };
            let event = Event { workspace_id: Some(ws), action, key: None, details: details.to_owned() };
            audit::record(conn, &actor, event, now)?;
            Ok(Saved::Changed)
        })
        .await?;
    let message = match changed {
        Saved::OwnTwoFactorMissing => {
            let cur = current(&state, &member).await?;
            let page =
                page(&member, &session, &cur, want, Some(OWN_TWO_FACTOR_FIRST.into()), SudoField::default());
            return render_status(actix_web::http::StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
        Saved::Unchanged => "Nothing changed.".to_owned(),
        Saved::Changed if want => format!(
            "{} now requires two-factor sign-in. Members without it are asked to set it up on their \
             next page.",
            member.workspace_name
        ),
        Saved::Changed => format!("{} no longer requires two-factor sign-in.", member.workspace_name),
    };
    flash::push(session.inner(), Level::Success, message);
    Ok(see_other(PATH))
}
