//! *Settings → Members*: owners list, re-role and remove the members of their workspace, and
//! see the pending invitations (sent, revoked and accepted in `console::invitations`).
//! Role changes and removals go through a confirmation page (a `<dialog>` with JavaScript).
//! The last owner can be neither demoted nor removed, so a workspace never loses its owners.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{NaiveDateTime, Utc};
use serde::Deserialize;

use super::api_keys::create::SummaryLine;
use super::csrf::CsrfForm;
use super::dates::Moment;
use super::error::ConsoleError;
use super::flash::{self, Level};
use super::member::Member;
use super::pages::{PageCtx, render, render_status};
use super::see_other;
use super::session::TypedSession;
use super::sudo::{self, SudoField};
use crate::accounts::invitations::{self, Invitation};
use crate::accounts::members::{self, MemberRow};
use crate::accounts::{Capability, Role};
use crate::audit::{self, Event};
use crate::db::DbError;
use crate::keys::store::{self as key_store, KeyRow};
use crate::keys::{self, BulkAction};
use crate::state::AppState;

/// Registers the members pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/settings/members").route(web::get().to(member_list)))
        .service(
            web::resource("/settings/members/{user_id}/role")
                .route(web::get().to(member_role_form))
                .route(web::post().to(member_role_change)),
        )
        .service(
            web::resource("/settings/members/{user_id}/remove")
                .route(web::get().to(member_remove_form))
                .route(web::post().to(member_remove)),
        );
}

/// A role as a radio button.
pub struct RoleChoice {
    pub value: &'static str,
    pub label: &'static str,
    pub description: &'static str,
    pub checked: bool,
}

pub fn role_choices(selected: &str) -> Vec<RoleChoice> {
    Role::ALL
        .iter()
        .map(|r| RoleChoice {
            value: r.as_str(),
            label: r.label(),
            description: r.description(),
            checked: r.as_str() == selected,
        })
        .collect()
}

/// One row of the members table.
pub struct MemberView {
    pub user_id: i64,
    pub email: String,
    pub role_label: &'static str,
    pub added: Moment,
    pub is_self: bool,
    /// The workspace's only owner: neither demoted nor removed, so no actions are offered.
    pub only_owner: bool,
}

impl MemberView {
    fn list(rows: &[MemberRow], me: i64, now: NaiveDateTime) -> Vec<Self> {
        let owners = rows.iter().filter(|r| r.role == Role::Owner).count();
        rows.iter()
            .map(|row| Self {
                user_id: row.user_id,
                email: row.email.clone(),
                role_label: row.role.label(),
                added: Moment::new(row.added_at, now),
                is_self: row.user_id == me,
                only_owner: row.role == Role::Owner && owners == 1,
            })
            .collect()
    }
}

/// The invitation form's fields (`POST /settings/invitations`).
#[derive(Default, Deserialize)]
pub struct InviteFormData {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub role: String,
}

#[derive(Default)]
pub struct InviteErrors {
    pub email: Option<String>,
    pub role: Option<String>,
}

impl InviteErrors {
    pub fn any(&self) -> bool {
        self.summary().next().is_some()
    }

    /// The errors in the form's order, each pointing at the control to fix.
    pub fn summary(&self) -> impl Iterator<Item = SummaryLine<'_>> {
        [("email", "Email", &self.email), ("role-owner", "Role", &self.role)].into_iter().filter_map(
            |(target, field, e)| e.as_deref().map(|message| SummaryLine { target, field, message }),
        )
    }
}

/// One row of the pending invitations table.
pub struct InvitationView {
    pub id: i64,
    pub email: String,
    pub role_label: &'static str,
    pub invited_by: String,
    pub expires: Moment,
}

impl InvitationView {
    fn list(rows: &[Invitation], now: NaiveDateTime) -> Vec<Self> {
        rows.iter()
            .map(|inv| Self {
                id: inv.id,
                email: inv.email.clone(),
                role_label: inv.role.label(),
                invited_by: inv.invited_by.clone().unwrap_or_else(|| "a deleted account".into()),
                expires: Moment::new(inv.expires_at, now),
            })
            .collect()
    }
}

#[derive(Template)]
#[template(path = "members/list.html")]
pub struct MembersPage {
    pub ctx: PageCtx,
    pub workspace_name: String,
    pub members: Vec<MemberView>,
    pub invitations: Vec<InvitationView>,
    pub email: String,
    pub roles: Vec<RoleChoice>,
    pub errors: InviteErrors,
}

/// The default role for someone new: the least that is useful.
const DEFAULT_ROLE: &str = "viewer";

pub(super) fn parse_user_id(raw: &str) -> Result<i64, ConsoleError> {
    raw.parse::<i64>().map_err(|_| ConsoleError::NotFound)
}

/// The members page: the members, the pending invitations and the invitation form (with what
/// was typed and its errors when `status` is not 200).
pub async fn members_page(
    state: &AppState,
    member: &Member,
    session: &TypedSession,
    status: StatusCode,
    email: String,
    role: &str,
    errors: InviteErrors,
) -> Result<HttpResponse, ConsoleError> {
    let ws = member.workspace_id;
    let now = Utc::now().naive_utc();
    let (rows, pending) = state
        .db
        .run(move |conn| -> Result<_, DbError> {
            Ok((members::list(conn, ws)?, invitations::pending(conn, ws, now)?))
        })
        .await?;
    render_status(
        status,
        &MembersPage {
            ctx: PageCtx::for_member(member, session, "members"),
            workspace_name: member.workspace_name.clone(),
            members: MemberView::list(&rows, member.user_id, now),
            invitations: InvitationView::list(&pending, now),
            email,
            roles: role_choices(role),
            errors,
        },
    )
}

pub async fn member_list(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageMembers)?;
    members_page(&state, &member, &session, StatusCode::OK, String::new(), DEFAULT_ROLE, Default::default())
        .await
}

// ---------------------------------------------------------------- role change

#[derive(Template)]
#[template(path = "members/role.html")]
pub struct RolePage {
    pub ctx: PageCtx,
    pub user_id: i64,
    pub email: String,
    pub role_label: &'static str,
    pub workspace_name: String,
    pub is_self: bool,
    pub last_owner: bool,
    pub roles: Vec<RoleChoice>,
    pub error: Option<String>,
    pub sudo: SudoField,
}

#[derive(Default, Deserialize)]
pub struct RoleFormData {
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub confirm_identity: String,
}

/// The target member and whether they are the workspace's only owner.
async fn load_target(
    state: &AppState,
    member: &Member,
    user_id: i64,
) -> Result<(MemberRow, bool), ConsoleError> {
    let ws = member.workspace_id;
    state
        .db
        .run(move |conn| -> Result<_, ConsoleError> {
            let target = members::find(conn, ws, user_id)?.ok_or(ConsoleError::NotFound)?;
            let last_owner = target.role == Role::Owner && members::count_owners(conn, ws)? <= 1;
            Ok((target, last_owner))
        })
        .await
}

fn role_page(
    member: &Member,
    session: &TypedSession,
    target: &MemberRow,
    last_owner: bool,
    selected: &str,
    error: Option<String>,
    sudo: SudoField,
) -> RolePage {
    RolePage {
        ctx: PageCtx::for_member(member, session, "members"),
        user_id: target.user_id,
        email: target.email.clone(),
        role_label: target.role.label(),
        workspace_name: member.workspace_name.clone(),
        is_self: target.user_id == member.user_id,
        last_owner,
        roles: role_choices(selected),
        error,
        sudo,
    }
}

pub async fn member_role_form(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageMembers)?;
    let (target, last_owner) = load_target(&state, &member, parse_user_id(&path)?).await?;
    let sudo = SudoField::for_member(&member);
    render(&role_page(&member, &session, &target, last_owner, target.role.as_str(), None, sudo))
}

enum RoleOutcome {
    Changed { email: String, from: Role },
    Unchanged { email: String },
    LastOwner(MemberRow),
}

/// Why the last owner cannot lose the role.
fn last_owner_message(email: &str, workspace: &str) -> String {
    format!(
        "{email} is the last owner of {workspace}. Make another member an owner first: a workspace \
         always needs someone who can manage its members."
    )
}

pub async fn member_role_change(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm<RoleFormData>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageMembers)?;
    let user_id = parse_user_id(&path)?;
    let Ok(role) = form.role.parse::<Role>() else {
        let (target, last_owner) = load_target(&state, &member, user_id).await?;
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &role_page(
                &member,
                &session,
                &target,
                last_owner,
                "",
                Some("Choose a role.".into()),
                SudoField::for_member(&member),
            ),
        );
    };
    if let Err(field) = sudo::guard(&state, &member, &form.confirm_identity).await? {
        let (target, last_owner) = load_target(&state, &member, user_id).await?;
        let (code, wait) = (field.status(), field.retry_after);
        let page = role_page(&member, &session, &target, last_owner, role.as_str(), None, field);
        return Ok(sudo::with_wait(render_status(code, &page)?, wait));
    }
    let ws = member.workspace_id;
    let actor = member.actor();
    let now = Utc::now().naive_utc();
    let outcome = state
        .db
        .write(move |conn| -> Result<RoleOutcome, ConsoleError> {
            members::lock_workspace(conn, ws)?;
            let target = members::find(conn, ws, user_id)?.ok_or(ConsoleError::NotFound)?;
            if target.role == role {
                return Ok(RoleOutcome::Unchanged { email: target.email });
            }
            if target.role == Role::Owner && members::count_owners(conn, ws)? <= 1 {
                return Ok(RoleOutcome::LastOwner(target));
            }
            members::set_role(conn, ws, user_id, role)?;
            let event = Event {
                workspace_id: Some(ws),
                action: "member.role_changed",
                key: None,
                details: format!("{}: {} \u{2192} {}", target.email, target.role, role),
            };
            audit::record(conn, &actor, event, now)?;
            Ok(RoleOutcome::Changed { email: target.email, from: target.role })
        })
        .await?;
    match outcome {
        RoleOutcome::LastOwner(target) => {
            let message = last_owner_message(&target.email, &member.workspace_name);
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &role_page(
                    &member,
                    &session,
                    &target,
                    true,
                    role.as_str(),
                    Some(message),
                    SudoField::for_member(&member),
                ),
            )
        }
        RoleOutcome::Unchanged { email } => {
            flash::push(
                session.inner(),
                Level::Success,
                format!("{email} is already {role}: nothing changed."),
            );
            Ok(see_other("/settings/members"))
        }
        RoleOutcome::Changed { email, from } => {
            flash::push(session.inner(), Level::Success, format!("{email} is now {role} (was {from})."));
            // Someone who gave up their own owner role can no longer see this page.
            let back = if user_id == member.user_id { "/settings/api-keys" } else { "/settings/members" };
            Ok(see_other(back))
        }
    }
}

// ---------------------------------------------------------------- removal

#[derive(Template)]
#[template(path = "members/remove.html")]
pub struct RemovePage {
    pub ctx: PageCtx,
    pub user_id: i64,
    pub email: String,
    pub role_label: &'static str,
    pub workspace_name: String,
    pub is_self: bool,
    pub last_owner: bool,
    pub error: Option<String>,
    pub sudo: SudoField,
    /// The live keys this member created, which the removal offers to revoke.
    pub keys: Vec<CreatedKey>,
    pub revoke_keys: bool,
}

/// A key on the removal page: what revoking it would stop.
pub struct CreatedKey {
    pub name: String,
    pub masked: String,
    pub last_used: Option<Moment>,
}

/// The live keys `user_id` created in the workspace.
async fn keys_created_by(state: &AppState, ws: i64, user_id: i64) -> Result<Vec<KeyRow>, ConsoleError> {
    let now = Utc::now().naive_utc();
    let keys = state
        .db
        .run(move |conn| -> Result<_, DbError> {
            Ok(key_store::live_keys_created_by(conn, ws, user_id, now)?)
        })
        .await?;
    Ok(keys)
}

fn remove_page(
    member: &Member,
    session: &TypedSession,
    target: &MemberRow,
    last_owner: bool,
    error: Option<String>,
    sudo: SudoField,
    (keys, revoke_keys): (&[KeyRow], bool),
) -> RemovePage {
    let now = Utc::now().naive_utc();
    let keys = keys
        .iter()
        .map(|k| CreatedKey {
            name: k.name.clone(),
            masked: k.masked(),
            last_used: k.last_used_at.map(|t| Moment::new(t, now)),
        })
        .collect();
    RemovePage {
        keys,
        revoke_keys,
        ctx: PageCtx::for_member(member, session, "members"),
        user_id: target.user_id,
        email: target.email.clone(),
        role_label: target.role.label(),
        workspace_name: member.workspace_name.clone(),
        is_self: target.user_id == member.user_id,
        last_owner,
        error,
        sudo,
    }
}

pub async fn member_remove_form(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageMembers)?;
    let (target, last_owner) = load_target(&state, &member, parse_user_id(&path)?).await?;
    let keys = keys_created_by(&state, member.workspace_id, target.user_id).await?;
    let sudo = SudoField::for_member(&member);
    render(&remove_page(&member, &session, &target, last_owner, None, sudo, (&keys, false)))
}

#[derive(Default, Deserialize)]
pub struct RemoveFormData {
    #[serde(default)]
    pub confirm_identity: String,
    /// A checkbox: also revoke the live keys the member created.
    #[serde(default)]
    pub revoke_keys: Option<String>,
}

enum RemoveOutcome {
    Removed { email: String },
    LastOwner(MemberRow),
}

pub async fn member_remove(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm<RemoveFormData>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageMembers)?;
    let user_id = parse_user_id(&path)?;
    let revoke_keys = form.revoke_keys.is_some();
    if let Err(field) = sudo::guard(&state, &member, &form.confirm_identity).await? {
        let (target, last_owner) = load_target(&state, &member, user_id).await?;
        let keys = keys_created_by(&state, member.workspace_id, user_id).await?;
        let (code, wait) = (field.status(), field.retry_after);
        let page = remove_page(&member, &session, &target, last_owner, None, field, (&keys, revoke_keys));
        return Ok(sudo::with_wait(render_status(code, &page)?, wait));
    }
    let ws = member.workspace_id;
    let actor = member.actor();
    let now = Utc::now().naive_utc();
    let outcome = state
        .db
        .write(move |conn| -> Result<RemoveOutcome, ConsoleError> {
            members::lock_workspace(conn, ws)?;
            let target = members::find(conn, ws, user_id)?.ok_or(ConsoleError::NotFound)?;
            if target.role == Role::Owner && members::count_owners(conn, ws)? <= 1 {
                return Ok(RemoveOutcome::LastOwner(target));
            }
            members::remove(conn, ws, user_id)?;
            let event = Event {
                workspace_id: Some(ws),
                action: "member.removed",
                key: None,
                details: format!("Removed {} (was {})", target.email, target.role),
            };
            audit::record(conn, &actor, event, now)?;
            Ok(RemoveOutcome::Removed { email: target.email })
        })
        .await?;
    match outcome {
        RemoveOutcome::LastOwner(target) => {
            let message = last_owner_message(&target.email, &member.workspace_name);
            let sudo = SudoField::for_member(&member);
            let keys = keys_created_by(&state, member.workspace_id, user_id).await?;
            let page =
                remove_page(&member, &session, &target, true, Some(message), sudo, (&keys, revoke_keys));
            render_status(StatusCode::CONFLICT, &page)
        }
        RemoveOutcome::Removed { email } => {
            let mut message = format!("Removed {email} from {}.", member.workspace_name);
            if revoke_keys {
                let ids = keys_created_by(&state, member.workspace_id, user_id)
                    .await?
                    .iter()
                    .map(|k| k.id)
                    .collect();
                let revoked =
                    keys::ops::bulk(&state.db, &member.actor(), member.workspace_id, ids, BulkAction::Revoke)
                        .await?
                        .changed;
                if !revoked.is_empty() {
                    let names: Vec<String> =
                        revoked.iter().map(|k| format!("\u{201c}{}\u{201d}", k.name)).collect();
                    message.push_str(&format!(" Revoked the keys they created: {}.", names.join(", ")));
                }
            }
            flash::push(session.inner(), Level::Success, message);
            let back = if user_id == member.user_id { "/settings/api-keys" } else { "/settings/members" };
            Ok(see_other(back))
        }
    }
}
