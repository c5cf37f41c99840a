//! `GET /settings/api-keys/{id}/reveal`: the secret, once. It comes out of the encrypted
//! session as this page renders, so a reload shows only the masked key.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::Utc;

use super::{Badge, ExpiresView, badges, no_store, parse_key_id};
use crate::console::error::ConsoleError;
use crate::console::member::Member;
use crate::console::pages::{PageCtx, render};
use crate::console::session::TypedSession;
use crate::keys;
use crate::state::AppState;
use crate::web::site_origin::SiteOrigin;

#[derive(Template)]
#[template(path = "api_keys/reveal.html")]
pub struct RevealPage {
    pub ctx: PageCtx,
    pub id: i64,
    pub name: String,
    pub masked: String,
    /// The full key, only on the first view.
    pub secret: Option<String>,
    pub regenerated: bool,
    pub badges: Vec<Badge>,
    pub expires: ExpiresView,
    /// This server's whoami URL, as the browser reached it.
    pub whoami_url: String,
}

pub async fn key_reveal(
    state: web::Data<AppState>,
    member: Member,
    session: TypedSession,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let id = parse_key_id(&path)?;
    let key = keys::ops::find(&state.db, member.workspace_id, id).await?;
    let secret = match session.take_pending_reveal(id) {
        Some(pending) if keys::ops::claim_reveal(&state.db, &member.actor(), &key, &pending).await? => {
            Some(pending)
        }
        _ => None,
    };
    let now = Utc::now().naive_utc();
    let whoami_url =
        SiteOrigin::for_links(&req, &state.settings.trusted_proxies, state.settings.public_url.as_ref())
            .url("/api/v1/whoami");
    let page = RevealPage {
        ctx: PageCtx::for_member(&member, &session, "keys"),
        id,
        masked: key.masked(),
        secret,
        regenerated: key.regenerated_at.is_some(),
        badges: badges(&key.permissions, &state.catalogue),
        expires: ExpiresView::new(key.expires_at, now),
        whoami_url,
        name: key.name,
    };
    render(&page).map(no_store)
}
