//! The page frame every console page shares, and the pages that need nothing but the frame
//! (errors, not found). Below the rest of the console: the error type renders through it.

use actix_session::SessionExt;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use super::assets::ASSET_VERSION;
use super::flash::Flash;
use crate::accounts::store::WorkspaceMembership;

/// The user's two-factor page, where a workspace that requires two-factor sends its members
/// who have not set it up.
pub const TWO_FACTOR_PATH: &str = "/settings/account/two-factor";

/// The header's navigation for a signed-in member.
pub struct Nav {
    pub email: String,
    pub workspace_id: i64,
    pub workspace_name: String,
    pub role_label: &'static str,
    pub workspaces: Vec<WorkspaceMembership>,
    pub can_manage_members: bool,
    /// Which nav entry is the current page: `keys`, `audit`, `members`, `workspace`, `policies`,
    /// `webhooks`, `account`.
    pub active: &'static str,
}

impl Nav {
    /// Where switching workspace leads: the same section in the other workspace.
    pub fn return_to(&self) -> &'static str {
        Section::from_active(self.active).path()
    }
}

/// A console section a workspace switch may return to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Keys,
    AuditLog,
    Members,
    Workspace,
    Policies,
    Webhooks,
    Account,
}

impl Section {
    fn from_active(active: &str) -> Self {
        match active {
            "audit" => Self::AuditLog,
            "members" => Self::Members,
            "workspace" => Self::Workspace,
            "policies" => Self::Policies,
            "webhooks" => Self::Webhooks,
            "account" => Self::Account,
            _ => Self::Keys,
        }
    }

    /// A `return_to` value from a form; anything but a known section is the key table, so the
    /// field can never send anyone off the console.
    pub fn parse(path: &str) -> Self {
        match path {
            "/settings/audit-log" => Self::AuditLog,
            "/settings/members" => Self::Members,
            "/settings/workspace" => Self::Workspace,
            "/settings/policies" => Self::Policies,
            "/settings/webhooks" => Self::Webhooks,
            "/settings/account" => Self::Account,
            _ => Self::Keys,
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            Self::Keys => "/settings/api-keys",
            Self::AuditLog => "/settings/audit-log",
            Self::Members => "/settings/members",
            Self::Workspace => "/settings/workspace",
            Self::Policies => "/settings/policies",
            Self::Webhooks => "/settings/webhooks",
            Self::Account => "/settings/account",
        }
    }
}

/// The layout's inputs: CSRF token for the forms it holds, flash messages, navigation.
pub struct PageCtx {
    pub csrf_token: String,
    pub flashes: Vec<Flash>,
    pub nav: Option<Nav>,
    pub asset_version: &'static str,
}

impl PageCtx {
    /// For error pages, which may be rendered without a request at hand.
    pub fn bare() -> Self {
        Self {
            csrf_token: String::new(),
            flashes: Vec::new(),
            nav: None,
            asset_version: ASSET_VERSION.as_str(),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub ctx: PageCtx,
    pub title: &'a str,
    pub message: &'a str,
}

pub fn render_error_page(status: StatusCode, ctx: PageCtx, title: &str, message: &str) -> HttpResponse {
    let html = ErrorPage { ctx, title, message }
        .render()
        .unwrap_or_else(|_| format!("<!doctype html><title>{}</title><h1>{}</h1>", status, status));
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(html)
}

/// The HTML 404 page for unknown console paths.
pub async fn render_not_found(req: &HttpRequest) -> HttpResponse {
    let _ = req.get_session();
    render_error_page(
        StatusCode::NOT_FOUND,
        PageCtx::bare(),
        "Page not found",
        "There is nothing at this address. Check the link, or go to Settings → API Keys.",
    )
}

/// The HTML 408 page for a form whose body did not arrive in time (`web::body_deadline`).
pub fn render_request_timeout() -> HttpResponse {
    render_error_page(
        StatusCode::REQUEST_TIMEOUT,
        PageCtx::bare(),
        "Request timed out",
        "The form took too long to arrive, so nothing was changed. Check your connection, go back \
         and send it again.",
    )
}
