//! What every console page carries into the layout, and the helpers that render pages.

use actix_session::SessionExt;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use super::error::ConsoleError;
use super::flash::{self, Flash};
use super::member::Member;
use super::session::TypedSession;
use crate::accounts::Capability;
use crate::accounts::store::WorkspaceMembership;
use crate::web::assets::ASSET_VERSION;

/// The header's navigation for a signed-in member.
pub struct Nav {
    pub email: String,
    pub workspace_id: i64,
    pub workspace_name: String,
    pub role_label: &'static str,
    pub workspaces: Vec<WorkspaceMembership>,
    pub can_manage_members: bool,
    /// Which nav entry is the current page: `keys`, `audit`, `members`.
    pub active: &'static str,
}

/// The layout's inputs: CSRF token for the forms it holds, flash messages, navigation.
pub struct PageCtx {
    pub csrf_token: String,
    pub flashes: Vec<Flash>,
    pub nav: Option<Nav>,
    pub asset_version: &'static str,
}

impl PageCtx {
    pub fn for_member(member: &Member, session: &TypedSession, active: &'static str) -> Self {
        Self {
            csrf_token: super::csrf::token(session.inner()),
            flashes: flash::take(session.inner()),
            nav: Some(Nav {
                email: member.email.clone(),
                workspace_id: member.workspace_id,
                workspace_name: member.workspace_name.clone(),
                role_label: member.role.label(),
                workspaces: member.workspaces.clone(),
                can_manage_members: member.can(Capability::ManageMembers),
                active,
            }),
            asset_version: ASSET_VERSION.as_str(),
        }
    }

    /// For pages shown before sign-in (setup, sign-in).
    pub fn anonymous(session: &TypedSession) -> Self {
        Self {
            csrf_token: super::csrf::token(session.inner()),
            flashes: flash::take(session.inner()),
            nav: None,
            asset_version: ASSET_VERSION.as_str(),
        }
    }

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

/// Renders a page as a 200 HTML response.
pub fn render(page: &impl Template) -> Result<HttpResponse, ConsoleError> {
    render_status(StatusCode::OK, page)
}

/// Renders a page with another status (e.g. 422 for a form with errors).
pub fn render_status(status: StatusCode, page: &impl Template) -> Result<HttpResponse, ConsoleError> {
    let html = page.render()?;
    Ok(HttpResponse::build(status).content_type("text/html; charset=utf-8").body(html))
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub ctx: PageCtx,
    pub title: &'a str,
    pub message: &'a str,
}

/// A simple page with a title and a paragraph.
#[derive(Template)]
#[template(path = "simple.html")]
pub struct SimplePage {
    pub ctx: PageCtx,
    pub title: String,
    pub body: String,
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
