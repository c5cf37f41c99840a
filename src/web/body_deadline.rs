//! A deadline for request bodies. actix bounds how long a connection's first request head may
//! take (`client_request_timeout`) but not its body: a client that sends its headers and then a
//! byte every few seconds holds the connection, and the handler waiting on the body, for as
//! long as it likes. Here every body must have arrived within a set time of the end of its
//! headers; one that has not is answered 408 with `Connection: close`.
//!
//! The middleware runs as soon as actix has parsed the headers, so the clock starts there. It
//! wraps the body stream: data that has arrived is always handed on, and only a read still
//! waiting for the client when the time is up fails. The handler sees a failed read, and its
//! answer is replaced by the 408: the JSON error under `/api/`, the page it is given elsewhere
//! (the console's, which this layer cannot name). actix closes a connection whose body was not
//! read to the end once the answer is written, so the slow client's connection ends with it.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::{ConnectionType, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{HttpMessage, HttpResponse};
use futures_util::Stream;
use tokio::time::{Instant, Sleep, sleep_until};

use super::api_error::json_error;

/// The stable code of the `/api/` answer.
pub const CODE: &str = "body_timeout";

/// How long bodies may take, and the page for a late one outside `/api/`.
#[derive(Clone, Copy)]
pub struct BodyDeadline {
    pub limit: Duration,
    pub page: fn() -> HttpResponse,
}

/// The middleware: `from_fn(move |req, next| enforce(req, next, deadline))`.
pub async fn enforce<B: MessageBody>(
    mut req: ServiceRequest,
    next: Next<B>,
    deadline: BodyDeadline,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let payload = req.take_payload();
    if matches!(payload, Payload::None) {
        // No body to wait for (a GET, or a POST without one).
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    }
    let expired = Rc::new(Cell::new(false));
    let timed = Timed {
        inner: payload,
        sleep: Box::pin(sleep_until(Instant::now() + deadline.limit)),
        expired: expired.clone(),
    };
    req.set_payload(Payload::Stream { payload: Box::pin(timed) });
    let api = req.path().starts_with("/api/");
    let res = next.call(req).await;
    if !expired.get() {
        return res.map(ServiceResponse::map_into_left_body);
    }
    let mut late = if api {
        let message = format!(
            "The request body did not arrive within {} of its headers.",
            humantime::format_duration(deadline.limit)
        );
        json_error(StatusCode::REQUEST_TIMEOUT, CODE, &message)
    } else {
        (deadline.page)()
    };
    // Said out loud as well: actix closes the connection anyway, since the body was not read
    // to its end, and a client should not wait to reuse it.
    late.head_mut().set_connection_type(ConnectionType::Close);
    match res {
        Ok(res) => Ok(res.into_response(late).map_into_right_body()),
        Err(_) => Err(actix_web::error::InternalError::from_response("request body too slow", late).into()),
    }
}

/// The body stream with the deadline. `expired` tells the middleware that the deadline, not
/// the client or the handler, ended the read.
struct Timed {
    inner: Payload,
    sleep: Pin<Box<Sleep>>,
    expired: Rc<Cell<bool>>,
}

impl Stream for Timed {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.expired.get() {
            return Poll::Ready(None);
        }
        // What has arrived is handed on whatever the time: only waiting is cut short.
        if let Poll::Ready(item) = Pin::new(&mut this.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        if this.sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        this.expired.set(true);
        let late =
            std::io::Error::new(std::io::ErrorKind::TimedOut, "the request body did not arrive in time");
        Poll::Ready(Some(Err(PayloadError::Io(late))))
    }
}
