//! *Settings → Members*: owners list, add, re-role and remove the members of their workspace.
//! Role changes and removals go through a confirmation page (a `<dialog>` with JavaScript).
//! The last owner can be neither demoted nor removed, so a workspace never loses its owners.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{NaiveDateTime, Utc};
use serde::Deserialize;

use super::csrf::CsrfForm;
use super::dates::Moment;
use super::error::ConsoleError;
use super::flash::{self, Level};
use super::member::Member;
use super::pages::{PageCtx, render, render_status, with_retry_after};
use super::see_other;
use super::session::TypedSession;
use super::sudo::{self, SudoField};
use crate::accounts::members::{self, MemberRow};
use crate::accounts::password_work::PasswordWorkError;
use crate::accounts::throttle::describe_wait;
use crate::accounts::{Capability, Email, Password, Role, store};
use crate::audit::{self, Event};
use crate::db::DbError;
use crate::state::AppState;

/// Registers the members pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/settings/members")
            .route(web::get().to(member_list))
            .route(web::post().to(member_add)),
    )
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

fn role_choices(selected: &str) -> Vec<RoleChoice> {
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

#[derive(Default, Deserialize)]
pub struct AddMemberFormData {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub role: String,
}

#[derive(Default)]
pub struct AddMemberErrors {
    /// About the form as a whole, shown above it.
    pub form: Option<String>,
    pub email: Option<String>,
    pub password: Option<String>,
    pub role: Option<String>,
}

impl AddMemberErrors {
    fn any(&self) -> bool {
        self.form.is_some() || self.email.is_some() || self.password.is_some() || self.role.is_some()
    }
}

#[derive(Template)]
#[template(path = "members/list.html")]
pub struct MembersPage {
    pub ctx: PageCtx,
    pub workspace_name: String,
    pub members: Vec<MemberView>,
    pub email: String,
    pub roles: Vec<RoleChoice>,
    pub errors: AddMemberErrors,
}

/// The default role for someone new: the least that is useful.
const DEFAULT_ROLE: &str = "viewer";

fn parse_user_id(raw: &str) -> Result<i64, ConsoleError> {
    raw.parse::<i64>().map_err(|_| ConsoleError::NotFound)
}

async fn members_page(
    state: &AppState,
    member: &Member,
    session: &TypedSession,
    status: StatusCode,
    email: String,
    role: &str,
    errors: AddMemberErrors,
) -> Result<HttpResponse, ConsoleError> {
    let ws = member.workspace_id;
    let rows = state.db.run(move |conn| members::list(conn, ws).map_err(DbError::from)).await?;
    render_status(
        status,
        &MembersPage {
            ctx: PageCtx::for_member(member, session, "members"),
            workspace_name: member.workspace_name.clone(),
            members: MemberView::list(&rows, member.user_id, Utc::now().naive_utc()),
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

enum Added {
    NewAccount,
    ExistingAccount,
    AlreadyMember,
}

pub async fn member_add(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    CsrfForm(form): CsrfForm<AddMemberFormData>,
) -> Result<HttpResponse, ConsoleError> {
    member.require(Capability::ManageMembers)?;
    let mut errors = AddMemberErrors::default();
    let email = Email::parse(&form.email).map_err(|e| errors.email = Some(e.to_string())).ok();
    let role = form.role.parse::<Role>().map_err(|()| errors.role = Some("Choose a role.".into())).ok();
    let ws = member.workspace_id;
    // Whether the email has an account decides whether the password is needed at all.
    let existing = match &email {
        Some(e) => {
            let e = e.clone();
            state
                .db
                .run(move |conn| -> Result<_, DbError> {
                    let Some(user) = store::find_user_by_email(conn, e.as_str())? else { return Ok(None) };
                    let is_member = members::find(conn, ws, user.id)?.is_some();
                    Ok(Some(is_member))
                })
                .await?
        }
        None => None,
    };
    if existing == Some(true) {
        errors.email = Some(format!("This person is already a member of {}.", member.workspace_name));
    }
    let password = match existing {
        Some(_) => None,
        None => Password::parse(&form.password).map_err(|e| errors.password = Some(e.to_string())).ok(),
    };
    let (Some(email), Some(role), false) = (email, role, errors.any()) else {
        let role = if errors.role.is_some() { "" } else { form.role.as_str() };
        return members_page(
            &state,
            &member,
            &session,
            StatusCode::UNPROCESSABLE_ENTITY,
            form.email.clone(),
            role,
            errors,
        )
        .await;
    };
    let hash = match password {
        Some(p) => match state.password_work.hash(p).await {
            Ok(hash) => Some(hash),
            Err(PasswordWorkError::Busy(busy)) => {
                let errors = AddMemberErrors {
                    form: Some(format!(
                        "The server is busy checking other passwords, so {email} was not added. Try \
                         again {}.",
                        describe_wait(busy.retry_after)
                    )),
                    ..AddMemberErrors::default()
                };
                let page = members_page(
                    &state,
                    &member,
                    &session,
                    StatusCode::TOO_MANY_REQUESTS,
                    form.email.clone(),
                    role.as_str(),
                    errors,
                )
                .await?;
                return Ok(with_retry_after(page, busy.retry_after));
            }
            Err(PasswordWorkError::Failed(e)) => return Err(anyhow::Error::from(e).into()),
        },
        None => None,
    };
    let actor = member.actor();
    let now = Utc::now().naive_utc();
    let added_email = email.clone();
    let workspace_name = member.workspace_name.clone();
    let outcome = state
        .db
        .write(move |conn| -> Result<Added, ConsoleError> {
            members::lock_workspace(conn, ws)?;
            // Looked up again inside the transaction: the account may have appeared meanwhile.
            let (user_id, outcome) = match store::find_user_by_email(conn, email.as_str())? {
                Some(user) => (user.id, Added::ExistingAccount),
                None => {
                    let Some(hash) = &hash else {
                        return Err(anyhow::anyhow!("an account vanished while being added").into());
                    };
                    (store::insert_user(conn, email.as_str(), hash, now)?, Added::NewAccount)
                }
            };
            if members::find(conn, ws, user_id)?.is_some() {
                return Ok(Added::AlreadyMember);
            }
            store::insert_membership(conn, user_id, ws, role, now)?;
            let how = match outcome {
                Added::NewAccount => "with a new account",
                _ => "with their existing account",
            };
            let event = Event {
                workspace_id: Some(ws),
                action: "member.added",
                key: None,
                details: format!("Added {email} as {role} ({how})"),
            };
            audit::record(conn, &actor, event, now)?;
            Ok(outcome)
        })
        .await?;
    let (level, message) = match outcome {
        Added::NewAccount => (
            Level::Success,
            format!(
                "Added {added_email} as {role}. Give them their initial password through a channel \
                 you trust."
            ),
        ),
        Added::ExistingAccount => (
            Level::Success,
            format!(
                "{added_email} already has a keyward account, so they were added to {workspace_name} \
                 as {role} and sign in with their own password. The password you typed was not used."
            ),
        ),
        Added::AlreadyMember => {
            (Level::Error, format!("{added_email} is already a member of {workspace_name}."))
        }
    };
    flash::push(session.inner(), level, message);
    Ok(see_other("/settings/members"))
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
}

fn remove_page(
    member: &Member,
    session: &TypedSession,
    target: &MemberRow,
    last_owner: bool,
    error: Option<String>,
    sudo: SudoField,
) -> RemovePage {
    RemovePage {
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
    render(&remove_page(&member, &session, &target, last_owner, None, SudoField::for_member(&member)))
}

#[derive(Default, Deserialize)]
pub struct RemoveFormData {
    #[serde(default)]
    pub confirm_identity: String,
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
    if let Err(field) = sudo::guard(&state, &member, &form.confirm_identity).await? {
        let (target, last_owner) = load_target(&state, &member, user_id).await?;
        let (code, wait) = (field.status(), field.retry_after);
        let page = remove_page(&member, &session, &target, last_owner, None, field);
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
            render_status(
                StatusCode::CONFLICT,
                &remove_page(&member, &session, &target, true, Some(message), sudo),
            )
        }
        RemoveOutcome::Removed { email } => {
            let message = format!("Removed {email} from {}.", member.workspace_name);
            flash::push(session.inner(), Level::Success, message);
            let back = if user_id == member.user_id { "/settings/api-keys" } else { "/settings/members" };
            Ok(see_other(back))
        }
    }
}
