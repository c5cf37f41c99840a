//! Switching between the workspaces a user belongs to, and creating another one.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

use super::csrf::CsrfForm;
use super::error::ConsoleError;
use super::flash::{self, Level};
use super::layout::Section;
use super::member::{Member, SignedIn};
use super::pages::{PageCtx, render, render_status};
use super::see_other;
use super::session::TypedSession;
use crate::accounts::WorkspaceName;
use crate::accounts::{Capability, Role, store};
use crate::audit::{self, Event};
use crate::state::AppState;

/// Registers the workspace routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/workspaces/switch", web::post().to(workspace_switch))
        .route("/workspaces/new", web::get().to(workspace_new_form))
        .route("/workspaces", web::post().to(workspace_create));
}

#[derive(Default, Deserialize)]
pub struct SwitchFormData {
    #[serde(default)]
    pub workspace_id: String,
    /// The section the user was on; they land on the same one in the other workspace.
    #[serde(default)]
    pub return_to: String,
}

/// Makes another of the user's workspaces the current one and returns to the same section
/// there (the key table when their role there cannot see it). A workspace they do not belong
/// to is a 404, exactly like one that does not exist. Open to a member their workspace holds
/// back until they set up two-factor sign-in ([`SignedIn`]): they may go to another one.
pub async fn workspace_switch(
    SignedIn(member): SignedIn,
    session: TypedSession,
    CsrfForm(form): CsrfForm<SwitchFormData>,
) -> Result<HttpResponse, ConsoleError> {
    let id: i64 = form.workspace_id.trim().parse().map_err(|_| ConsoleError::NotFound)?;
    let target = member.workspaces.iter().find(|w| w.workspace_id == id).ok_or(ConsoleError::NotFound)?;
    session.set_workspace_id(target.workspace_id).map_err(anyhow::Error::from)?;
    if target.workspace_id != member.workspace_id {
        let message = format!("Switched to {} (you are {} there).", target.workspace_name, target.role);
        flash::push(session.inner(), Level::Success, message);
    }
    let section = match Section::parse(&form.return_to) {
        Section::Members | Section::Workspace if !target.role.can(Capability::ManageMembers) => Section::Keys,
        Section::Policies if !target.role.can(Capability::ManagePolicies) => Section::Keys,
        section => section,
    };
    Ok(see_other(section.path()))
}

#[derive(Template)]
#[template(path = "workspaces/new.html")]
pub struct NewWorkspacePage {
    pub ctx: PageCtx,
    pub workspace_name: String,
    pub error: Option<String>,
}

/// Any signed-in user may start a workspace of their own; they become its owner.
pub async fn workspace_new_form(member: Member, session: TypedSession) -> Result<HttpResponse, ConsoleError> {
    render(&NewWorkspacePage {
        ctx: PageCtx::for_member(&member, &session, "workspaces"),
        workspace_name: String::new(),
        error: None,
    })
}

#[derive(Default, Deserialize)]
pub struct NewWorkspaceFormData {
    #[serde(default)]
    pub workspace_name: String,
}

pub async fn workspace_create(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    CsrfForm(form): CsrfForm<NewWorkspaceFormData>,
) -> Result<HttpResponse, ConsoleError> {
    let name = match WorkspaceName::parse(&form.workspace_name) {
        Ok(name) => name,
        Err(e) => {
            return render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &NewWorkspacePage {
                    ctx: PageCtx::for_member(&member, &session, "workspaces"),
                    workspace_name: form.workspace_name,
                    error: Some(e.to_string()),
                },
            );
        }
    };
    let actor = member.actor();
    let user_id = member.user_id;
    let now = Utc::now().naive_utc();
    let label = name.clone();
    let workspace_id = state
        .db
        .write(move |conn| -> Result<i64, ConsoleError> {
            let workspace_id = store::insert_workspace(conn, &name, now)?;
            store::insert_membership(conn, user_id, workspace_id, Role::Owner, now)?;
            let event = Event {
                workspace_id: Some(workspace_id),
                action: "workspace.created",
                key: None,
                details: format!("Workspace \u{201c}{name}\u{201d} created by {}", actor.label),
            };
            audit::record(conn, &actor, event, now)?;
            Ok(workspace_id)
        })
        .await?;
    session.set_workspace_id(workspace_id).map_err(anyhow::Error::from)?;
    flash::push(
        session.inner(),
        Level::Success,
        format!("Created the workspace {label}; you are its owner. It starts with no API keys."),
    );
    Ok(see_other("/settings/api-keys"))
}
