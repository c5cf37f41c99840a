//! With `KEYWARD_PUBLIC_URL` set, the console answers only requests addressed to that host.
//! A page on another site can make a browser send requests to keyward under the other site's
//! name (DNS rebinding): the `Host` header then names the attacker's domain and `Origin`
//! matches it, so the cross-site check alone would let such a request through. The verifier
//! (`/api/`), the health checks and the metrics answer any host: services and load balancers reach them by
//! internal names and addresses, and they carry no cookie.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};

use super::site_origin::SiteOrigin;
use crate::config::Settings;

pub async fn require_public_host(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let settings = req.app_data::<web::Data<Settings>>().expect("Settings are registered").clone();
    let Some(public) = settings.public_url.as_ref().and_then(SiteOrigin::of_public_url) else {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    };
    let path = req.path();
    let exempt = path.starts_with("/api/")
        || path == "/healthz"
        || path == "/readyz"
        || path == crate::web::metrics::PATH;
    let asked = SiteOrigin::of_request(req.request(), &settings.trusted_proxies);
    if exempt || asked.authority == public.authority || asked.authority == public.default_port_form() {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    }
    let res = HttpResponse::build(StatusCode::MISDIRECTED_REQUEST)
        .content_type("text/plain; charset=utf-8")
        .body(format!(
            "This keyward console answers only at {}://{} (its KEYWARD_PUBLIC_URL).\n",
            public.scheme, public.authority
        ));
    Ok(req.into_response(res).map_into_right_body())
}
