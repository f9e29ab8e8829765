//! The HTTP face of the simulator: axum in front of [`Sim::handle`].
//!
//! Every request, whatever its path, is converted to a [`SimRequest`] and answered by the core,
//! so the socket and in-process simulators behave identically. This module holds no state and
//! makes no decisions.

use std::future::Future;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::sim::{Sim, SimRequest};

/// The largest request body accepted (a `/deal` selection is a few hundred bytes).
const MAX_BODY_BYTES: usize = 1 << 20;

/// Serves the simulator on `listener` until `shutdown` completes.
///
/// Requests in flight when `shutdown` completes are finished first; a request hanging on the
/// `freeze` knob keeps the server alive until the knob is cleared.
///
/// # Errors
///
/// When accepting connections fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    sim: Sim,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new().fallback(answer).with_state(sim);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn answer(State(sim): State<Sim>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let query = match Query::<Vec<(String, String)>>::try_from_uri(&parts.uri) {
        Ok(Query(query)) => query,
        Err(rejection) => return (StatusCode::BAD_REQUEST, rejection.body_text()).into_response(),
    };
    let accept_gzip = parts
        .headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| {
            value
                .split(',')
                .any(|encoding| encoding.trim().starts_with("gzip"))
        });
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => (!bytes.is_empty()).then(|| bytes.to_vec()),
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response(),
    };
    let answer = sim
        .handle(SimRequest {
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
            query,
            body,
            accept_gzip,
        })
        .await;
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in answer.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            response.headers_mut().append(name, value);
        }
    }
    response
}
