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

/// The document of this instance: [`document`] with the permission ids of its catalogue
/// (`KEYWARD_SCOPES`) as the values `permissions` may hold.
pub fn document_for(catalogue: &crate::keys::Catalogue) -> String {
    let mut doc: serde_json::Value = serde_json::from_str(document()).expect("the document is JSON");
    let ids: Vec<serde_json::Value> = catalogue.scopes().map(|s| s.id.clone().into()).collect();
    for schema in ["CreateKey", "UpdateKey"] {
        if let Some(items) = doc.pointer_mut(&format!("/components/schemas/{schema}/properties/permissions"))
        {
            set_item_enum(items, &ids);
        }
    }
    serde_json::to_string_pretty(&doc).expect("JSON serializes")
}

/// Sets `enum` on the array schema inside `schema` (itself, or the array of a `oneOf`/`type`
/// list that also allows `null`).
fn set_item_enum(schema: &mut serde_json::Value, ids: &[serde_json::Value]) {
    if let Some(items) = schema.get_mut("items") {
        items["enum"] = serde_json::Value::Array(ids.to_vec());
    }
    for combinator in ["oneOf", "anyOf"] {
        if let Some(options) = schema.get_mut(combinator).and_then(|o| o.as_array_mut()) {
            options.iter_mut().for_each(|o| set_item_enum(o, ids));
        }
    }
}

/// The document as JSON, made once.
pub fn document() -> &'static str {
    static DOCUMENT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        ManagementApi::openapi().to_pretty_json().expect("the OpenAPI document serializes")
    });
    &DOCUMENT
}
