//! `/docs/api`: the management API's reference, read from the same OpenAPI document the API
//! serves (`manage::openapi`), as one page of HTML that needs no script.

use actix_web::HttpResponse;
use askama::Template;
use serde_json::Value;

use super::error::ConsoleError;
use super::member::Member;
use super::pages::{PageCtx, render};
use super::session::TypedSession;

/// One operation: `GET /api/v1/manage/keys`.
pub struct Operation {
    pub anchor: String,
    pub method: String,
    pub path: String,
    pub summary: String,
    pub description: String,
    pub scopes: String,
    pub params: Vec<Field>,
    /// The request body's schema, if any, and whether it may be left out.
    pub body: Option<(SchemaRef, bool)>,
    pub responses: Vec<(String, String, Option<SchemaRef>)>,
}

/// A body's schema in words (`Key`, `null or RegenerateKey`, `array of Member`), and the one
/// schema of the document it links to, when there is one.
#[derive(Debug, PartialEq, Eq)]
pub struct SchemaRef {
    pub text: String,
    pub target: Option<String>,
}

impl SchemaRef {
    fn of(schema: &Value) -> Self {
        Self { text: kind_of(schema), target: target_of(schema) }
    }
}

/// A parameter or a schema's property.
pub struct Field {
    pub name: String,
    pub place: String,
    pub kind: String,
    pub required: bool,
    pub description: String,
}

pub struct SchemaView {
    pub name: String,
    pub description: String,
    pub fields: Vec<Field>,
}

pub struct Section {
    pub tag: String,
    pub operations: Vec<Operation>,
}

#[derive(Template)]
#[template(path = "api_reference.html")]
pub struct ReferencePage {
    pub ctx: PageCtx,
    pub title: String,
    pub description: String,
    pub sections: Vec<Section>,
    pub schemas: Vec<SchemaView>,
}

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// `string`, `integer or null`, `array of string`, `Key` (a link), `live | test`.
fn kind_of(schema: &Value) -> String {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        return reference.rsplit('/').next().unwrap_or(reference).to_owned();
    }
    for combinator in ["oneOf", "anyOf", "allOf"] {
        if let Some(options) = schema.get(combinator).and_then(Value::as_array) {
            return options.iter().map(kind_of).collect::<Vec<_>>().join(" or ");
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" | ");
    }
    let mut types: Vec<String> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => vec!["any".to_owned()],
    };
    for t in &mut types {
        if t == "array" {
            *t = format!("array of {}", schema.get("items").map_or_else(|| "any".to_owned(), kind_of));
        } else if t != "null"
            && let Some(format) = schema.get("format").and_then(Value::as_str)
        {
            *t = format!("{t} ({format})");
        }
    }
    types.join(" or ")
}

/// The named schema `schema` stands for: itself a `$ref`, an array of one, or a choice whose
/// only named option it is (`oneOf: [null, {$ref}]`).
fn target_of(schema: &Value) -> Option<String> {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        return reference.strip_prefix("#/components/schemas/").map(str::to_owned);
    }
    if let Some(items) = schema.get("items") {
        return target_of(items);
    }
    for combinator in ["oneOf", "anyOf", "allOf"] {
        if let Some(options) = schema.get(combinator).and_then(Value::as_array) {
            let named: Vec<String> = options.iter().filter_map(target_of).collect();
            return if named.len() == 1 { named.into_iter().next() } else { None };
        }
    }
    None
}

/// The page's content from the document: operations grouped by tag, then every schema.
pub fn reference(doc: &Value) -> (Vec<Section>, Vec<SchemaView>) {
    let mut sections: Vec<Section> = doc
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|t| Section { tag: text(t, "name"), operations: Vec::new() })
        .collect();
    let paths = doc.get("paths").and_then(Value::as_object).cloned().unwrap_or_default();
    for (path, item) in &paths {
        for method in ["get", "post", "patch", "put", "delete"] {
            let Some(op) = item.get(method) else { continue };
            let scopes = op
                .get("security")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|s| s.get("management_token").and_then(Value::as_array))
                .flatten()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            let params = op
                .get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|p| Field {
                    name: text(p, "name"),
                    place: text(p, "in"),
                    kind: p.get("schema").map(kind_of).unwrap_or_default(),
                    required: p.get("required").and_then(Value::as_bool).unwrap_or(false),
                    description: text(p, "description"),
                })
                .collect();
            let body = op.get("requestBody").map(|b| {
                let schema = b.pointer("/content/application~1json/schema").unwrap_or(&Value::Null);
                (SchemaRef::of(schema), !b.get("required").and_then(Value::as_bool).unwrap_or(false))
            });
            let responses = op
                .get("responses")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(status, r)| {
                    let schema = r
                        .get("content")
                        .and_then(Value::as_object)
                        .and_then(|c| c.values().next())
                        .and_then(|c| c.get("schema"))
                        .map(SchemaRef::of);
                    (status.clone(), text(r, "description"), schema)
                })
                .collect();
            let tag = op.pointer("/tags/0").and_then(Value::as_str).unwrap_or_default();
            let operation = Operation {
                anchor: text(op, "operationId"),
                method: method.to_uppercase(),
                path: path.clone(),
                summary: text(op, "summary"),
                description: text(op, "description"),
                scopes,
                params,
                body,
                responses,
            };
            match sections.iter_mut().find(|s| s.tag == tag) {
                Some(section) => section.operations.push(operation),
                None => sections.push(Section { tag: tag.to_owned(), operations: vec![operation] }),
            }
        }
    }
    let schemas = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(name, schema)| {
            let required: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let fields = schema
                .get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(field, s)| Field {
                    name: field.clone(),
                    place: String::new(),
                    kind: kind_of(s),
                    required: required.contains(&field.as_str()),
                    description: text(s, "description"),
                })
                .collect();
            let description = match schema.get("properties") {
                Some(_) => text(schema, "description"),
                None => format!("{} {}", text(schema, "description"), kind_of(schema)).trim().to_owned(),
            };
            SchemaView { name: name.clone(), description, fields }
        })
        .collect();
    (sections, schemas)
}

pub async fn api_reference(
    state: actix_web::web::Data<crate::state::AppState>,
    member: Member,
    session: TypedSession,
) -> Result<HttpResponse, ConsoleError> {
    let doc = crate::manage::openapi::document_for(&state.catalogue);
    let doc: Value = serde_json::from_str(&doc).map_err(anyhow::Error::from)?;
    let (sections, schemas) = reference(&doc);
    render(&ReferencePage {
        ctx: PageCtx::for_member(&member, &session, "docs"),
        title: doc.pointer("/info/title").and_then(Value::as_str).unwrap_or_default().to_owned(),
        description: doc.pointer("/info/description").and_then(Value::as_str).unwrap_or_default().to_owned(),
        sections,
        schemas,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_and_schema_of_the_document_is_on_the_page() {
        let doc: Value = serde_json::from_str(crate::manage::openapi::document()).unwrap();
        let (sections, schemas) = reference(&doc);
        let operations: Vec<&Operation> = sections.iter().flat_map(|s| &s.operations).collect();
        let in_doc: usize =
            doc["paths"].as_object().unwrap().values().map(|p| p.as_object().unwrap().len()).sum();
        assert_eq!(operations.len(), in_doc);
        let create =
            operations.iter().find(|o| o.method == "POST" && o.path == "/api/v1/manage/keys").unwrap();
        assert_eq!(create.scopes, "keys:write");
        let named = |name: &str| SchemaRef { text: name.to_owned(), target: Some(name.to_owned()) };
        assert_eq!(create.body, Some((named("CreateKey"), false)));
        assert!(
            create
                .responses
                .iter()
                .any(|(status, _, schema)| status == "201" && schema.as_ref() == Some(&named("IssuedKey")))
        );
        // Every link to a schema leads to one the page shows.
        for o in &operations {
            let bodies =
                o.body.iter().map(|(b, _)| b).chain(o.responses.iter().filter_map(|(_, _, s)| s.as_ref()));
            for target in bodies.filter_map(|s| s.target.as_deref()) {
                assert!(
                    schemas.iter().any(|s| s.name == target),
                    "{} {} links to {target}",
                    o.method,
                    o.path
                );
            }
        }
        let regenerate = operations
            .iter()
            .find(|o| o.method == "POST" && o.path == "/api/v1/manage/keys/{id}/regenerate")
            .unwrap();
        let (body, _) = regenerate.body.as_ref().unwrap();
        assert_eq!(body.target.as_deref(), Some("RegenerateKey"), "{}", body.text);
        assert!(create.params.iter().any(|p| p.name == "Idempotency-Key" && p.place == "header"));
        let key = schemas.iter().find(|s| s.name == "Key").unwrap();
        let expires = key.fields.iter().find(|f| f.name == "expires_at").unwrap();
        assert_eq!(expires.kind, "string (date-time) or null");
        assert!(schemas.iter().any(|s| s.name == "Problem"));
    }
}
