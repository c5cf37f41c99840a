//! The admin console: server-rendered pages behind a session cookie and CSRF tokens.
//! Every page works without JavaScript; `static/app.js` only improves it.

pub mod account;
pub mod api_keys;
pub mod api_reference;
pub mod assets;
pub mod audit_log;
pub mod auth;
pub mod csrf;
pub mod dates;
pub mod error;
pub mod flash;
pub mod invitations;
pub mod layout;
pub mod management_tokens;
pub mod member;
pub mod members;
pub mod pages;
pub mod password_reset;
pub mod policies;
pub mod session;
pub mod sudo;
pub mod two_factor;
pub mod webhooks;
pub mod workspace_settings;
pub mod workspaces;

use actix_web::{HttpRequest, HttpResponse, web};

pub use error::ConsoleError;
pub use member::Member;

/// Registers the console's routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/static/{file}", web::get().to(asset))
        .route("/", web::get().to(home))
        .service(
            web::resource("/setup").route(web::get().to(auth::setup_form)).route(web::post().to(auth::setup)),
        )
        .service(
            web::resource("/login").route(web::get().to(auth::login_form)).route(web::post().to(auth::login)),
        )
        .route("/logout", web::post().to(auth::logout))
        .route("/signed-out", web::get().to(auth::signed_out))
        .route("/settings", web::get().to(home))
        .configure(api_keys::configure)
        .configure(audit_log::configure);
    cfg.configure(members::routes);
    cfg.configure(account::routes);
    cfg.configure(password_reset::routes);
    cfg.configure(invitations::routes);
    cfg.configure(workspaces::routes);
    cfg.configure(two_factor::routes);
    cfg.configure(workspace_settings::routes);
    cfg.configure(webhooks::routes);
    cfg.configure(management_tokens::routes);
    cfg.route("/docs/api", web::get().to(api_reference::api_reference));
    cfg.configure(policies::routes);
}

/// The console's front door: the key table.
async fn home(_member: Member) -> HttpResponse {
    see_other("/settings/api-keys")
}

/// The stylesheet and script. Their URLs carry a content hash, so they can be cached for a year.
async fn asset(req: HttpRequest, file: web::Path<String>) -> HttpResponse {
    match assets::file(&file) {
        Some((body, mime)) => HttpResponse::Ok()
            .content_type(mime)
            .insert_header(("Cache-Control", "public, max-age=31536000, immutable"))
            .body(body),
        // The same HTML 404 page as any other unknown address outside `/api/`.
        None => layout::render_not_found(&req).await,
    }
}

/// A 303 redirect: after a POST the browser follows with a GET.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header(("Location", location)).finish()
}
