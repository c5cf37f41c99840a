//! The console's error type. Each variant maps to one status code and an HTML page.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use super::layout::{PageCtx, render_error_page};
use crate::db::DbError;
use crate::keys::KeyError;

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// Not signed in: go to the sign-in page and come back to `next`.
    #[error("sign-in required")]
    SignInRequired { next: String },
    /// No user exists yet: go to first-run setup.
    #[error("setup required")]
    SetupRequired,
    /// The workspace requires two-factor sign-in and the member has not set it up yet: go to
    /// the enrolment page (the extractor leaves a flash message saying why).
    #[error("two-factor sign-in must be set up first")]
    TwoFactorSetupRequired,
    /// Signed in, but the account belongs to no workspace (every membership was removed).
    #[error("no workspace")]
    NoWorkspace,
    /// Signed in but the role does not allow it.
    #[error("{0}")]
    Forbidden(&'static str),
    /// Missing or wrong CSRF token, or a cross-site Origin.
    #[error("the form has expired or did not come from this site")]
    Csrf,
    #[error("not found")]
    NotFound,
    #[error("the form could not be read: {0}")]
    BadForm(String),
    #[error("the form is too large")]
    PayloadTooLarge,
    /// The change cannot be made to the thing as it stands (the message says why).
    #[error("{0}")]
    Conflict(String),
    #[error("the database is unavailable")]
    Unavailable,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<DbError> for ConsoleError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(why) => {
                tracing::warn!(%why, "database unavailable");
                Self::Unavailable
            }
            DbError::Query(q) => q.into(),
            DbError::Migration(m) => Self::Internal(anyhow::anyhow!(m)),
        }
    }
}

/// Handlers answer the refusals they expect themselves (a field error, a flash message);
/// what reaches this is a 404, a database failure or a conflict shown as a page.
impl From<KeyError> for ConsoleError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::NotFound => Self::NotFound,
            KeyError::Db(db) => db.into(),
            refusal => Self::Conflict(refusal.to_string()),
        }
    }
}

impl From<diesel::result::Error> for ConsoleError {
    fn from(e: diesel::result::Error) -> Self {
        match e {
            diesel::result::Error::NotFound => Self::NotFound,
            other => Self::Internal(anyhow::Error::new(other).context("database query failed")),
        }
    }
}

impl From<askama::Error> for ConsoleError {
    fn from(e: askama::Error) -> Self {
        Self::Internal(anyhow::Error::new(e).context("template rendering failed"))
    }
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::SignInRequired { .. } | Self::SetupRequired | Self::TwoFactorSetupRequired => {
                StatusCode::SEE_OTHER
            }
            Self::Forbidden(_) | Self::Csrf | Self::NoWorkspace => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::BadForm(_) => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::SignInRequired { next } => {
                let target = if next.is_empty() || next == "/" {
                    "/login".to_owned()
                } else {
                    format!(
                        "/login?next={}",
                        url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                    )
                };
                return super::see_other(&target);
            }
            Self::SetupRequired => return super::see_other("/setup"),
            Self::TwoFactorSetupRequired => return super::see_other(super::layout::TWO_FACTOR_PATH),
            Self::Internal(e) => tracing::error!(error = ?e, "internal error"),
            _ => {}
        }
        let (title, message) = match self {
            Self::Forbidden(why) => ("Not allowed", (*why).to_owned()),
            Self::NoWorkspace => (
                "You belong to no workspace",
                "You are signed in, but your account is no longer a member of any workspace, so there \
                 is nothing to show. To join one, open the invitation link a workspace owner gives you."
                    .to_owned(),
            ),
            Self::Csrf => (
                "Form expired",
                "This form has expired or did not come from this site. Go back, reload the page and try again.".to_owned(),
            ),
            Self::NotFound => ("Page not found", "There is nothing here. It may have been deleted.".to_owned()),
            Self::BadForm(why) => ("Bad request", format!("The form could not be read: {why}")),
            Self::PayloadTooLarge => ("Too large", "The form sent was too large.".to_owned()),
            Self::Conflict(why) => ("Not possible", why.clone()),
            Self::Unavailable => (
                "Temporarily unavailable",
                "The database cannot be reached right now. Try again in a moment.".to_owned(),
            ),
            _ => ("Something went wrong", "An unexpected error occurred. It has been logged.".to_owned()),
        };
        render_error_page(self.status_code(), PageCtx::bare(), title, &message)
    }
}
