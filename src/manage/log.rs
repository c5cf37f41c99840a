//! `/api/v1/manage/audit-log` and `/api/v1/manage/members`: reading what happened, and who is
//! in the workspace.

use actix_web::http::StatusCode;
use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::keys::{limit_of, page_of, read_cursor, rfc3339};
use super::problem::ManageError;
use crate::db::DbError;
use crate::keys::management::TokenScope;
use crate::state::AppState;

/// One audit log entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEvent {
    pub id: i64,
    #[schema(format = DateTime)]
    pub at: String,
    /// Who: an email, a management token (`token “CI” (kw_mgmt_…Ab12)`), or `system`.
    pub actor: String,
    /// What: `key.created`, `key.revoked`, `token.created`, …
    pub action: String,
    pub key_id: Option<i64>,
    pub key_name: Option<String>,
    pub key_masked: Option<String>,
    pub ip: Option<String>,
    pub details: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditLog {
    pub data: Vec<AuditEvent>,
    /// Pass as `cursor` for older entries; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only this key's entries.
    pub key_id: Option<i64>,
    /// Only entries with this action.
    pub action: Option<String>,
    /// Entries per page, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Read the audit log
///
/// The workspace's entries, newest first.
#[utoipa::path(
    get, path = "/api/v1/manage/audit-log", tag = "Audit log",
    params(AuditParams),
    responses((status = 200, description = "One page of entries", body = AuditLog), super::problem::ClientErrors),
    security(("management_token" = ["keys:read"]))
)]
pub async fn audit_log(
    state: web::Data<AppState>,
    caller: Caller,
    params: web::Query<AuditParams>,
) -> Result<HttpResponse, ManageError> {
    let principal = caller.require(TokenScope::KeysRead)?;
    let params = params.into_inner();
    let limit = limit_of(params.limit)?;
    let before = read_cursor(params.cursor.as_deref())?;
    let (workspace_id, key_id) = (principal.workspace_id, params.key_id);
    // A NUL cannot be in an action, and PostgreSQL refuses one in a text parameter.
    let action = params.action.filter(|a| !a.contains('\0'));
    let rows = state
        .db
        .run(move |conn| {
            crate::audit::events_before(conn, workspace_id, key_id, action.as_deref(), before, limit + 1)
                .map_err(DbError::from)
        })
        .await?;
    let (rows, next_cursor) = page_of(rows, limit, |e| e.id);
    let data: Vec<AuditEvent> = rows
        .into_iter()
        .map(|e| AuditEvent {
            id: e.id,
            at: rfc3339(e.at),
            actor: e.actor,
            action: e.action,
            key_id: e.key_id,
            key_name: e.key_name,
            key_masked: e.key_masked,
            ip: e.ip,
            details: e.details,
        })
        .collect();
    Ok(HttpResponse::build(StatusCode::OK)
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(AuditLog { data, next_cursor }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Member {
    pub user_id: i64,
    pub email: String,
    /// `owner`, `admin` or `member`.
    pub role: String,
    #[schema(format = DateTime)]
    pub added_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    pub data: Vec<Member>,
}

/// List members
///
/// The workspace's members and their roles, owners first.
#[utoipa::path(
    get, path = "/api/v1/manage/members", tag = "Members",
    responses((status = 200, description = "Every member", body = MemberList), super::problem::ClientErrors),
    security(("management_token" = ["members:read"]))
)]
pub async fn members(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ManageError> {
    let principal = caller.require(TokenScope::MembersRead)?;
    let workspace_id = principal.workspace_id;
    let rows = state
        .db
        .run(move |conn| crate::accounts::members::list(conn, workspace_id).map_err(DbError::from))
        .await?;
    let data = rows
        .into_iter()
        .map(|m| Member {
            user_id: m.user_id,
            email: m.email,
            role: m.role.as_str().to_owned(),
            added_at: rfc3339(m.added_at),
        })
        .collect();
    Ok(HttpResponse::build(StatusCode::OK)
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(MemberList { data }))
}
