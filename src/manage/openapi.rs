//! The OpenAPI 3.1 document of the management API, generated from the handlers' annotations
//! and the types they read and answer, served at `/api/v1/openapi.json`.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::problem::{FieldError, Problem};

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
