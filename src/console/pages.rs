//! The layout's inputs for a signed-in or anonymous page, and the helpers that render pages.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;

use super::assets::ASSET_VERSION;
use super::error::ConsoleError;
use super::flash;
pub use super::layout::{Nav, PageCtx, render_error_page, render_not_found};
use super::member::Member;
use super::session::TypedSession;
use crate::accounts::Capability;

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

/// Adds `Retry-After` to a 429 page, in whole seconds and at least one, so a client that
/// honours it never comes back too early.
pub fn with_retry_after(mut res: HttpResponse, wait: std::time::Duration) -> HttpResponse {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    res.headers_mut().insert(
        actix_web::http::header::RETRY_AFTER,
        actix_web::http::header::HeaderValue::from(secs.max(1)),
    );
    res
}

/// A simple page with a title and a paragraph.
#[derive(Template)]
#[template(path = "simple.html")]
pub struct SimplePage {
    pub ctx: PageCtx,
    pub title: String,
    pub body: String,
}
