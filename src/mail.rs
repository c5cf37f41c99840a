//! Outgoing email over SMTP (`KEYWARD_SMTP_URL`, `KEYWARD_SMTP_FROM`): plain-text messages,
//! one connection per message. Callers send after their transaction has committed, so a mail
//! server that is down or slow costs a message, never the change it reports.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::config::SmtpSettings;

/// How long one SMTP step (connecting, each command) may take. The sender waits for the whole
/// exchange, so this bounds how long a page that sends mail can hang on a stuck server.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// What became of a message a page reports: the page says it was emailed, could not be, or
/// that this server sends no email (and the link must be passed on by hand).
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub enum Delivery {
    /// No SMTP server is configured.
    NotConfigured,
    Sent,
    Failed,
}

/// Sends `message` when a mail server is configured. Callers run this after their transaction
/// has committed; a failure is logged (as `what`, never with the body, which may carry a link)
/// and reported, and costs nothing but the email.
pub async fn deliver(
    mailer: Option<&Mailer>,
    what: &'static str,
    message: impl FnOnce() -> Message,
) -> Delivery {
    let Some(mailer) = mailer else { return Delivery::NotConfigured };
    match mailer.send(message()).await {
        Ok(()) => Delivery::Sent,
        Err(error) => {
            tracing::warn!(%error, what, "an email was not sent");
            Delivery::Failed
        }
    }
}

/// A plain-text email to one person.
pub struct Message {
    /// The recipient's address.
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// Why a message was not handed over. Never holds the message's body (it may carry a link
/// that works as a credential).
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("the SMTP settings cannot be used: {0}")]
    Settings(String),
    #[error("`{0}` is not an email address")]
    BadRecipient(String),
    #[error("the message could not be built: {0}")]
    Build(String),
    #[error("the SMTP server did not take the message: {0}")]
    Send(String),
}

/// The configured mail server and sender. Cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from.to_string()).finish_non_exhaustive()
    }
}

impl Mailer {
    /// Prepares the transport; nothing connects until the first message.
    pub fn new(settings: &SmtpSettings) -> Result<Self, MailError> {
        // lettre's own errors may quote the URL it was given; only the redacted form is shown.
        let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(settings.url.expose())
            .map_err(|_| MailError::Settings(format!("KEYWARD_SMTP_URL `{}` is not usable", settings.url)))?;
        let transport = builder.timeout(Some(STEP_TIMEOUT)).build();
        Ok(Self { transport, from: settings.from.clone() })
    }

    /// Hands one message to the SMTP server.
    pub async fn send(&self, message: Message) -> Result<(), MailError> {
        let to: Mailbox = message.to.parse().map_err(|_| MailError::BadRecipient(message.to.clone()))?;
        let domain = self.from.email.domain().to_owned();
        let email = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(message.subject)
            .message_id(Some(format!("<{}@{domain}>", crate::text::random_token())))
            .header(ContentType::TEXT_PLAIN)
            .body(message.body)
            .map_err(|e| MailError::Build(e.to_string()))?;
        self.transport.send(email).await.map(drop).map_err(|e| MailError::Send(e.to_string()))
    }
}
