//! The management API's errors: RFC 9457 problem details (`application/problem+json`).
//!
//! Every problem has a stable `type` (`urn:keyward:problem:<code>`, never dereferenced), the
//! same `code` as a member for clients that switch on a word, a `title` per type, and a
//! `detail` written for the person reading it: the same sentences the console shows. Invalid
//! input is 422 with `errors`, one per field.

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, WWW_AUTHENTICATE};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::{IntoResponses, ToSchema};

use crate::db::DbError;
use crate::keys::KeyError;
use crate::keys::management::TokenScope;
use crate::keys::policy::PolicyRefusal;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// A problem details object (RFC 9457).
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:keyward:problem:` and the code: stable, one per kind of error.
    #[schema(example = "urn:keyward:problem:key_not_found")]
    #[serde(rename = "type")]
    pub type_uri: String,
    /// The same words for every problem of this type.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong this time, for a person.
    pub detail: String,
    /// The code of `type`, for clients that switch on a word.
    pub code: String,
    /// The fields that were refused, with why (422 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// One refused field of a request body or query.
#[derive(Clone, Debug, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// The field's name in the request (`name`, `permissions`, `expiry`, …).
    pub field: String,
    /// Why, in the console's words.
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self { field: field.to_owned(), message: message.into() }
    }
}

/// Why a management request failed.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    /// No token, or one that is unknown, revoked or expired (the answer does not say which).
    #[error("Send a valid management token: Authorization: Bearer kw_mgmt_…")]
    Unauthenticated,
    /// An API key was sent: keys are for the services they protect, not for managing keys.
    #[error(
        "API keys cannot call the management API. Create a management token under Settings \u{2192} Management tokens."
    )]
    ApiKeyNotAccepted,
    #[error("This token lacks the {} scope.", .0.as_str())]
    InsufficientScope(TokenScope),
    #[error("{0}")]
    Invalid(String, Vec<FieldError>),
    /// A query parameter or the body could not be read at all.
    #[error("{0}")]
    BadRequest(String),
    #[error("The Idempotency-Key was already used for a different request. Use a new key for a new request.")]
    IdempotencyKeyReused,
    #[error("A request with this Idempotency-Key is still being processed. Retry after it has finished.")]
    IdempotencyInProgress,
    /// The first answer was kept but can no longer be opened (the instance's secret key changed).
    #[error(
        "The first request with this Idempotency-Key was done, but its answer can no longer be shown. List the keys to find what it made; use a new Idempotency-Key for a new request."
    )]
    IdempotencyAnswerLost,
    #[error("There is no such management API resource.")]
    NotFound,
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for ManageError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e.into())
    }
}

impl ManageError {
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => one.message.clone(),
            _ => format!("{} fields are invalid; see errors.", errors.len()),
        };
        Self::Invalid(detail, errors)
    }

    /// The stable code, the `type`'s last word.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::ApiKeyNotAccepted => "api_key_not_accepted",
            Self::InsufficientScope(_) => "insufficient_scope",
            Self::Invalid(..) => "validation_failed",
            Self::BadRequest(_) => "bad_request",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::IdempotencyInProgress => "idempotency_in_progress",
            Self::IdempotencyAnswerLost => "idempotency_answer_lost",
            Self::NotFound => "not_found",
            Self::Key(KeyError::Policy(_)) => "policy_refused",
            Self::Key(e) => e.code(),
            Self::Db(DbError::Unavailable(_)) => "unavailable",
            Self::Db(_) => "internal_error",
        }
    }

    fn title(&self) -> &'static str {
        match self.code() {
            "unauthenticated" => "Authentication required",
            "api_key_not_accepted" => "API keys cannot manage keys",
            "insufficient_scope" => "Insufficient scope",
            "validation_failed" => "Invalid request",
            "bad_request" => "Malformed request",
            "idempotency_key_reused" => "Idempotency-Key reused",
            "idempotency_in_progress" => "Request in progress",
            "idempotency_answer_lost" => "Answer no longer available",
            "not_found" => "Not found",
            "key_not_found" => "Key not found",
            "policy_refused" => "Refused by the workspace policy",
            "name_taken" => "Name already in use",
            "already_revoked" => "Key already revoked",
            "key_revoked" => "Key revoked",
            "already_disabled" => "Key already disabled",
            "not_disabled" => "Key not disabled",
            "expiry_date_passed" => "Expiry date passed",
            "unavailable" => "Service unavailable",
            _ => "Internal error",
        }
    }

    /// The field a key operation's refusal concerns, for `errors`.
    fn field_errors(&self) -> Vec<FieldError> {
        match self {
            Self::Invalid(_, errors) => errors.clone(),
            Self::Key(KeyError::NameTaken { .. } | KeyError::NameTakenSince { .. }) => {
                vec![FieldError::new("name", self.to_string())]
            }
            Self::Key(KeyError::Policy(refusal)) => {
                let field = match refusal {
                    PolicyRefusal::FullAccessOwnersOnly => "permissions",
                    PolicyRefusal::MaxLifetime { .. } | PolicyRefusal::ExpiryRequired => "expiry",
                };
                vec![FieldError::new(field, self.to_string())]
            }
            _ => Vec::new(),
        }
    }

    pub fn problem(&self) -> Problem {
        let code = self.code();
        let detail = match self {
            // Never the database's own words.
            Self::Db(DbError::Unavailable(_)) | Self::Key(KeyError::Db(DbError::Unavailable(_))) => {
                "The database is unavailable. Retry shortly.".to_owned()
            }
            Self::Db(_) | Self::Key(KeyError::Db(_)) => "Something went wrong on our side.".to_owned(),
            other => other.to_string(),
        };
        Problem {
            type_uri: format!("urn:keyward:problem:{code}"),
            title: self.title().to_owned(),
            status: self.status_code().as_u16(),
            detail,
            code: code.to_owned(),
            errors: self.field_errors(),
        }
    }
}

impl ResponseError for ManageError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unauthenticated | Self::ApiKeyNotAccepted => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope(_) => StatusCode::FORBIDDEN,
            Self::Invalid(..) | Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::IdempotencyInProgress | Self::IdempotencyAnswerLost => StatusCode::CONFLICT,
            Self::NotFound | Self::Key(KeyError::NotFound) => StatusCode::NOT_FOUND,
            Self::Key(KeyError::Policy(_)) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Key(KeyError::Db(DbError::Unavailable(_))) | Self::Db(DbError::Unavailable(_)) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Key(KeyError::Db(_)) | Self::Db(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Key(_) => StatusCode::CONFLICT,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let problem = self.problem();
        if problem.status >= 500 {
            tracing::error!(error = %self, "management API request failed");
        }
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((CACHE_CONTROL, "no-store")).content_type(CONTENT_TYPE);
        if matches!(self, Self::Unauthenticated | Self::ApiKeyNotAccepted) {
            response.insert_header((WWW_AUTHENTICATE, "Bearer realm=\"keyward management API\""));
        }
        if let Self::InsufficientScope(scope) = self {
            let challenge = format!("Bearer error=\"insufficient_scope\", scope=\"{}\"", scope.as_str());
            response.insert_header((WWW_AUTHENTICATE, challenge));
        }
        response.body(serde_json::to_string(&problem).expect("a problem serializes"))
    }
}

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
    /// `Idempotency-Key` is still running (`idempotency_in_progress`) or its answer can no longer
    /// be read (`idempotency_answer_lost`, after the server's secret key changed).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_has_a_stable_type_and_the_console_words() {
        let e = ManageError::Key(KeyError::NameTaken { existing: "CI".into() });
        let p = e.problem();
        assert_eq!(p.type_uri, "urn:keyward:problem:name_taken");
        assert_eq!(p.status, 409);
        assert_eq!(
            p.errors,
            vec![FieldError::new("name", KeyError::NameTaken { existing: "CI".into() }.to_string())]
        );
        let p = ManageError::Db(DbError::Unavailable("gone".into())).problem();
        assert_eq!((p.status, p.code.as_str()), (503, "unavailable"));
        assert!(!p.detail.contains("gone"));
        let p = ManageError::invalid(vec![FieldError::new("name", "Enter a name for the key.")]).problem();
        assert_eq!((p.status, p.detail.as_str()), (422, "Enter a name for the key."));
    }
}
