//! `GET /settings/account/two-factor` and its forms: set up two-factor sign-in (a new secret,
//! shown as a QR code and as text, confirmed with a first code), then the status, new recovery
//! codes and turning it off (both behind re-authentication).

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, HeaderValue};
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::Utc;
use qrcode::QrCode;
use qrcode::render::svg;
use serde::Deserialize;

use super::{ISSUER, unix_now};
use crate::accounts::two_factor::{self, RecoveryCode, TotpCode, TotpSecret};
use crate::console::csrf::CsrfForm;
use crate::console::error::ConsoleError;
use crate::console::flash::{self, Level};
use crate::console::member::{Member, SignedIn};
use crate::console::pages::{PageCtx, render, render_status};
use crate::console::session::TypedSession;
use crate::console::sudo::{self, SudoField};
use crate::console::{dates, see_other};
use crate::db::DbError;
use crate::state::AppState;

/// A pending enrolment as the page shows it.
pub struct PendingView {
    /// Inline SVG, made here from the secret (never user text).
    pub qr_svg: String,
    pub secret_grouped: String,
}

#[derive(Template)]
#[template(path = "account/two_factor.html")]
pub struct TwoFactorPage {
    pub ctx: PageCtx,
    pub email: String,
    /// Set while two-factor sign-in is on: since when.
    pub enabled_since: Option<String>,
    pub pending: Option<PendingView>,
    pub code_error: Option<String>,
    pub codes_left: i64,
    /// The user's workspaces that require two-factor sign-in.
    pub required_by: Vec<String>,
    /// The current workspace holds the user back until they set it up.
    pub due: bool,
    pub sudo: SudoField,
}

#[derive(Template)]
#[template(path = "account/recovery_codes.html")]
pub struct RecoveryCodesPage {
    pub ctx: PageCtx,
    pub codes: Vec<String>,
    /// The codes came with turning two-factor on (not a regeneration).
    pub just_enabled: bool,
}

impl RecoveryCodesPage {
    pub fn codes_text(&self) -> String {
        self.codes.join("\n")
    }
}

#[derive(Template)]
#[template(path = "account/two_factor_disable.html")]
pub struct DisablePage {
    pub ctx: PageCtx,
    pub required_by: Vec<String>,
    pub sudo: SudoField,
}

/// The user's two-factor state as the pages need it.
struct Status {
    row: two_factor::store::TwoFactorRow,
    codes_left: i64,
    required_by: Vec<String>,
}

async fn status(state: &AppState, user_id: i64) -> Result<Status, ConsoleError> {
    state
        .db
        .run(move |conn| -> Result<Status, ConsoleError> {
            let row = two_factor::store::find(conn, user_id)?.ok_or(ConsoleError::NotFound)?;
            let codes_left = two_factor::store::recovery_codes_left(conn, user_id)?;
            let required_by = two_factor::store::workspaces_requiring(conn, user_id)?;
            Ok(Status { row, codes_left, required_by })
        })
        .await
}

/// The QR code of the secret's `otpauth://` address as an inline `<svg>`.
fn qr_svg(secret: &TotpSecret, email: &str) -> Result<String, ConsoleError> {
    let code = QrCode::new(secret.otpauth_url(ISSUER, email).as_bytes())
        .map_err(|e| ConsoleError::Internal(anyhow::anyhow!("QR code: {e}")))?;
    let svg = code.render::<svg::Color>().min_dimensions(200, 200).quiet_zone(true).build();
    // The XML declaration has no place inside HTML; the image needs a name for screen readers.
    let svg = svg.trim_start_matches(|c| c != '>').trim_start_matches('>');
    Ok(svg.replacen(
        "<svg ",
        "<svg role=\"img\" aria-label=\"QR code for your authenticator app\" class=\"qr-code\" ",
        1,
    ))
}

fn page(
    state: &AppState,
    member: &Member,
    session: &TypedSession,
    st: Status,
    code_error: Option<String>,
    sudo: SudoField,
) -> Result<TwoFactorPage, ConsoleError> {
    let enabled_since = st.row.totp_enabled_at.filter(|_| st.row.enabled()).map(dates::date);
    let pending = match (&enabled_since, &st.row.totp_secret) {
        (None, Some(sealed)) => {
            let secret = state
                .two_factor_cipher
                .open(sealed)
                .map_err(|e| ConsoleError::Internal(anyhow::Error::from(e)))?;
            Some(PendingView { qr_svg: qr_svg(&secret, &member.email)?, secret_grouped: secret.grouped() })
        }
        _ => None,
    };
    Ok(TwoFactorPage {
        ctx: PageCtx::for_member(member, session, "account"),
        email: member.email.clone(),
        enabled_since,
        pending,
        code_error,
        codes_left: st.codes_left,
        required_by: st.required_by,
        due: member.two_factor_due,
        sudo,
    })
}

pub async fn two_factor_page(
    state: web::Data<AppState>,
    SignedIn(member): SignedIn,
    session: TypedSession,
) -> Result<HttpResponse, ConsoleError> {
    let st = status(&state, member.user_id).await?;
    let sudo = SudoField::for_member(&member);
    render(&page(&state, &member, &session, st, None, sudo)?)
}

#[derive(Deserialize)]
pub struct EmptyFormData {}

/// Makes a new pending secret (again, when the user starts over) and shows the page with it.
pub async fn two_factor_setup(
    state: web::Data<AppState>,
    SignedIn(member): SignedIn,
    session: TypedSession,
    CsrfForm(_): CsrfForm<EmptyFormData>,
) -> Result<HttpResponse, ConsoleError> {
    let sealed = state.two_factor_cipher.seal(&TotpSecret::generate());
    let user_id = member.user_id;
    let stored = state
        .db
        .write(move |conn| {
            two_factor::store::set_pending_secret(conn, user_id, &sealed).map_err(DbError::from)
        })
        .await?;
    if !stored {
        flash::push(session.inner(), Level::Error, "Two-factor sign-in is already on.");
    }
    Ok(see_other(super::TWO_FACTOR_PATH))
}

#[derive(Default, Deserialize)]
pub struct EnableFormData {
    #[serde(default)]
    pub code: String,
}

const WRONG_FIRST_CODE: &str = "That code does not match. Check that your authenticator app shows \
    keyward with your email, and enter the code it shows now.";

enum Enabled {
    Done(Vec<String>),
    /// The secret changed meanwhile (set up again elsewhere) or it is already on.
    Stale,
}

/// Checks the first code against the pending secret; a right one turns two-factor on and shows
/// the recovery codes, once.
pub async fn two_factor_enable(
    state: web::Data<AppState>,
    SignedIn(member): SignedIn,
    session: TypedSession,
    CsrfForm(form): CsrfForm<EnableFormData>,
) -> Result<HttpResponse, ConsoleError> {
    let st = status(&state, member.user_id).await?;
    let (false, Some(sealed)) = (st.row.enabled(), st.row.totp_secret.clone()) else {
        flash::push(session.inner(), Level::Error, "Start the set-up first: there is no code to check yet.");
        return Ok(see_other(super::TWO_FACTOR_PATH));
    };
    let secret =
        state.two_factor_cipher.open(&sealed).map_err(|e| ConsoleError::Internal(anyhow::Error::from(e)))?;
    let now = Utc::now().naive_utc();
    let step = match TotpCode::parse(&form.code) {
        Ok(code) => secret.matching_step(&code, unix_now(now)).ok_or_else(|| WRONG_FIRST_CODE.to_owned()),
        Err(e) => Err(e.to_string()),
    };
    let step = match step {
        Ok(step) => step,
        Err(message) => {
            let sudo = SudoField::for_member(&member);
            let page = page(&state, &member, &session, st, Some(message), sudo)?;
            return render_status(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    let codes = RecoveryCode::generate_set();
    let hashes: Vec<String> = codes.iter().map(RecoveryCode::hash).collect();
    let shown: Vec<String> = codes.iter().map(|c| c.as_str().to_owned()).collect();
    let (user_id, actor) = (member.user_id, member.actor());
    let outcome = state
        .db
        .write(move |conn| -> Result<Enabled, ConsoleError> {
            if !two_factor::store::enable(conn, user_id, &sealed, step, now)? {
                return Ok(Enabled::Stale);
            }
            two_factor::store::replace_recovery_codes(conn, user_id, &hashes)?;
            crate::accounts::store::record_account_event(
                conn,
                &actor,
                user_id,
                "user.two_factor_enabled",
                "Two-factor sign-in turned on (authenticator app), with 10 new recovery codes",
                now,
            )?;
            Ok(Enabled::Done(shown))
        })
        .await?;
    match outcome {
        Enabled::Done(codes) => {
            flash::push(session.inner(), Level::Success, "Two-factor sign-in is on.");
            recovery_codes_page(&member, &session, codes, true)
        }
        Enabled::Stale => {
            flash::push(
                session.inner(),
                Level::Error,
                "The set-up changed while you were typing (started again in another tab?). Scan the \
                 code shown now.",
            );
            Ok(see_other(super::TWO_FACTOR_PATH))
        }
    }
}

fn recovery_codes_page(
    member: &Member,
    session: &TypedSession,
    codes: Vec<String>,
    just_enabled: bool,
) -> Result<HttpResponse, ConsoleError> {
    let page =
        RecoveryCodesPage { ctx: PageCtx::for_member(member, session, "account"), codes, just_enabled };
    let mut res = render(&page)?;
    // Shown once: never kept by a cache or offered again by Back.
    res.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

#[derive(Default, Deserialize)]
pub struct GuardedFormData {
    #[serde(default)]
    pub confirm_identity: String,
}

/// New recovery codes; the old ones stop working.
pub async fn recovery_codes_regenerate(
    state: web::Data<AppState>,
    SignedIn(member): SignedIn,
    session: TypedSession,
    CsrfForm(form): CsrfForm<GuardedFormData>,
) -> Result<HttpResponse, ConsoleError> {
    if let Err(field) = sudo::guard(&state, &member, &form.confirm_identity).await? {
        let st = status(&state, member.user_id).await?;
        let (code, wait) = (field.status(), field.retry_after);
        let res = render_status(code, &page(&state, &member, &session, st, None, field)?)?;
        return Ok(sudo::with_wait(res, wait));
    }
    let codes = RecoveryCode::generate_set();
    let hashes: Vec<String> = codes.iter().map(RecoveryCode::hash).collect();
    let (user_id, actor) = (member.user_id, member.actor());
    let now = Utc::now().naive_utc();
    let enabled = state
        .db
        .write(move |conn| -> Result<bool, ConsoleError> {
            if !two_factor::store::is_enabled(conn, user_id)? {
                return Ok(false);
            }
            two_factor::store::replace_recovery_codes(conn, user_id, &hashes)?;
            crate::accounts::store::record_account_event(
                conn,
                &actor,
                user_id,
                "user.recovery_codes_regenerated",
                "10 new recovery codes; the earlier ones no longer work",
                now,
            )?;
            Ok(true)
        })
        .await?;
    if !enabled {
        flash::push(
            session.inner(),
            Level::Error,
            "Two-factor sign-in is off, so there are no recovery codes.",
        );
        return Ok(see_other(super::TWO_FACTOR_PATH));
    }
    let shown = codes.iter().map(|c| c.as_str().to_owned()).collect();
    recovery_codes_page(&member, &session, shown, false)
}

/// Why two-factor cannot be turned off while a workspace requires it.
fn required_message(required_by: &[String]) -> String {
    let names = required_by.iter().map(|n| format!("\u{201c}{n}\u{201d}")).collect::<Vec<_>>().join(", ");
    format!(
        "Two-factor sign-in cannot be turned off: {names} require{} it of every member. Ask an \
         owner there to lift the requirement, or leave the workspace first.",
        if required_by.len() == 1 { "s" } else { "" }
    )
}

pub async fn two_factor_disable_form(
    state: web::Data<AppState>,
    SignedIn(member): SignedIn,
    session: TypedSession,
) -> Result<HttpResponse, ConsoleError> {
    let st = status(&state, member.user_id).await?;
    if !st.row.enabled() {
        return Ok(see_other(super::TWO_FACTOR_PATH));
    }
    render(&DisablePage {
        ctx: PageCtx::for_member(&member, &session, "account"),
        required_by: st.required_by,
        sudo: SudoField::for_member(&member),
    })
}

pub async fn two_factor_disable(
    state: web::Data<AppState>,
    SignedIn(member): SignedIn,
    session: TypedSession,
    CsrfForm(form): CsrfForm<GuardedFormData>,
) -> Result<HttpResponse, ConsoleError> {
    let st = status(&state, member.user_id).await?;
    if !st.row.enabled() {
        return Ok(see_other(super::TWO_FACTOR_PATH));
    }
    if !st.required_by.is_empty() {
        flash::push(session.inner(), Level::Error, required_message(&st.required_by));
        return Ok(see_other(super::TWO_FACTOR_PATH));
    }
    if let Err(field) = sudo::guard(&state, &member, &form.confirm_identity).await? {
        let (code, wait) = (field.status(), field.retry_after);
        let res = render_status(
            code,
            &DisablePage {
                ctx: PageCtx::for_member(&member, &session, "account"),
                required_by: st.required_by,
                sudo: field,
            },
        )?;
        return Ok(sudo::with_wait(res, wait));
    }
    let (user_id, actor) = (member.user_id, member.actor());
    let now = Utc::now().naive_utc();
    let outcome = state
        .db
        .write(move |conn| -> Result<Result<(), Vec<String>>, ConsoleError> {
            // Checked again inside the transaction: an owner may have just required it.
            let required_by = two_factor::store::workspaces_requiring(conn, user_id)?;
            if !required_by.is_empty() {
                return Ok(Err(required_by));
            }
            two_factor::store::disable(conn, user_id)?;
            crate::accounts::store::record_account_event(
                conn,
                &actor,
                user_id,
                "user.two_factor_disabled",
                "Two-factor sign-in turned off; its recovery codes were deleted",
                now,
            )?;
            Ok(Ok(()))
        })
        .await?;
    match outcome {
        Ok(()) => flash::push(
            session.inner(),
            Level::Success,
            "Two-factor sign-in is off. Your password alone now signs you in.",
        ),
        Err(required_by) => flash::push(session.inner(), Level::Error, required_message(&required_by)),
    }
    Ok(see_other(super::TWO_FACTOR_PATH))
}
