//! The OpenAPI 3.1 document of the management API, generated from the handlers' annotations
//! and the types they read and answer, served at `/api/v1/openapi.json`.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi};

use super::problem::{FieldError, Problem};

/// The errors every management operation may answer, each as problem details.
#[allow(dead_code)] // Only its derived description is used.
#[derive(IntoResponses)]
pub enum ClientErrors {
    /// The body or a query parameter could not be read (`bad_request`).
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// No valid management token (`unauthenticated`), or an API key was sent
    /// (`api_key_not_accepted`).
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthenticated(Problem),
    /// The token lacks the scope the operation needs (`insufficient_scope`).
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// No such key in the token's workspace (`key_not_found`).
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
    /// The key's state refuses the change (`name_taken`, `already_revoked`, `key_revoked`,
    /// `already_disabled`, `not_disabled`, `expiry_date_passed`), or a request with the same
    /// `Idempotency-Key` is still running (`idempotency_in_progress`).
    #[response(status = 409, content_type = "application/problem+json")]
    Conflict(Problem),
    /// Invalid fields, each in `errors` with the console's message (`validation_failed`), a
    /// refusal by the workspace's policy (`policy_refused`), or an `Idempotency-Key` reused
    /// for another request (`idempotency_key_reused`).
    #[response(status = 422, content_type = "application/problem+json")]
    Unprocessable(Problem),
    /// The database is unavailable (`unavailable`); retry shortly.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
}

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.description = Some(
            "A management token (`kw_mgmt_…`), made by a workspace owner under Settings → Management tokens."
                .into(),
        );
        components.add_security_scheme("management_token", SecurityScheme::Http(scheme));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "keyward management API",
        description = "Manage a workspace's API keys from scripts, CI and infrastructure tools. \
            Authenticate with a management token: `Authorization: Bearer kw_mgmt_…`. Errors are \
            RFC 9457 problem details with a stable `type` (`urn:keyward:problem:<code>`).",
        license(name = "MIT", identifier = "MIT"),
    ),
    paths(
        super::keys::list_keys,
        super::keys::create_key,
        super::keys::get_key,
        super::keys::update_key,
        super::keys::delete_key,
        super::keys::regenerate_key,
        super::keys::disable_key,
        super::keys::enable_key,
        super::keys::revoke_key,
        super::keys::key_usage,
        super::log::audit_log,
        super::log::members,
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&BearerToken),
    tags(
        (name = "Keys", description = "The workspace's API keys"),
        (name = "Audit log", description = "What was done, by whom"),
        (name = "Members", description = "Who belongs to the workspace"),
    )
)]
pub struct ManagementApi;

/// The document as JSON, made once.
pub fn document() -> &'static str {
    static DOCUMENT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        ManagementApi::openapi().to_pretty_json().expect("the OpenAPI document serializes")
    });
    &DOCUMENT
}
