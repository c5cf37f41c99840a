//! Invitations: owners invite people by email and role (`send`: the form on the members page,
//! the page that shows the link once, revocation), and the invitee accepts at the link
//! (`accept`). The link is the only way in: no one sets another person's password.

pub mod accept;
pub mod send;

use actix_web::web;

/// Registers the invitation routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings/invitations", web::post().to(send::invitation_send))
        .route("/settings/invitations/{id}/link", web::get().to(send::invitation_link))
        .service(
            web::resource("/settings/invitations/{id}/revoke")
                .route(web::get().to(send::invitation_revoke_form))
                .route(web::post().to(send::invitation_revoke)),
        )
        .service(
            web::resource("/invitations/{token}")
                .route(web::get().to(accept::invitation_show))
                .route(web::post().to(accept::invitation_accept)),
        );
}
