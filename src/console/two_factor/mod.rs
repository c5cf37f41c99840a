//! Two-factor sign-in: the user's own page to set it up, see it, get new recovery codes and
//! turn it off (`enrol`), and the sign-in step that asks for a code (`sign_in`).

pub mod enrol;
pub mod sign_in;

use actix_web::web;

pub use super::layout::TWO_FACTOR_PATH;

/// Registers the two-factor pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(TWO_FACTOR_PATH, web::get().to(enrol::two_factor_page))
        .route("/settings/account/two-factor/setup", web::post().to(enrol::two_factor_setup))
        .route("/settings/account/two-factor/enable", web::post().to(enrol::two_factor_enable))
        .route(
            "/settings/account/two-factor/recovery-codes",
            web::post().to(enrol::recovery_codes_regenerate),
        )
        .service(
            web::resource("/settings/account/two-factor/disable")
                .route(web::get().to(enrol::two_factor_disable_form))
                .route(web::post().to(enrol::two_factor_disable)),
        )
        .service(
            web::resource(sign_in::PATH)
                .route(web::get().to(sign_in::code_form))
                .route(web::post().to(sign_in::code_check)),
        );
}

/// The issuer authenticator apps show beside the account.
pub const ISSUER: &str = "keyward";

/// Seconds since the Unix epoch, for TOTP steps.
fn unix_now(now: chrono::NaiveDateTime) -> u64 {
    u64::try_from(now.and_utc().timestamp()).unwrap_or(0)
}
