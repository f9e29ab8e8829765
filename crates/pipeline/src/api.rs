//! The worker's HTTP API (DESIGN.md §8): `GET /api/deals`, `GET /api/deal-count`,
//! `GET /healthz` and `GET /metrics`, as an axum [`Router`] ([`router`]) and a
//! server with graceful shutdown ([`serve`]).
//!
//! - Deals are read through [`DealStore`]'s read pool, so a busy writer never
//!   blocks the API; the validity gate is applied by deal-store on every query.
//!   A store failure is a 503 whose message says what failed (locked,
//!   corrupt, unreadable), never the SQL and never the file's path.
//! - Query parameters are parsed by this module ([`params`]) so that every
//!   400 names the parameter and what it accepts; the body shapes and units
//!   are in [`deal_json`].
//! - Limits: the query string is at most [`MAX_QUERY_BYTES`] (414 beyond);
//!   requests with a body are refused (413); every route is `GET` (and
//!   `HEAD`), other methods get 405; unknown paths get a JSON 404. Every
//!   error body is `{"error": "…"}`.
//! - Every response, errors included, is timed into the
//!   `api_request_duration_seconds` histogram, labelled by route (the route's
//!   path, or `unmatched` for unknown paths, so the label set stays small).
//!
//! Where the API listens (loopback by default) is the worker's configuration.

pub mod deal_json;
pub mod params;

use std::fmt;
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{MethodRouter, get};
use deal_store::{DealStore, StoreError};
use serde_json::json;
use tokio::net::TcpListener;

use crate::metrics::Metrics;
use deal_json::{CountBody, DealJson, DealsBody, Pagination};

/// The longest query string accepted, in bytes (as sent, percent-encoded).
pub const MAX_QUERY_BYTES: usize = 4096;

/// The route label of requests that matched no route.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The routes the API serves.
pub const ROUTES: [&str; 4] = ["/api/deals", "/api/deal-count", "/healthz", "/metrics"];

/// The content type of `GET /metrics` (Prometheus' text exposition format).
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether the worker is making progress, as `GET /healthz` reports it.
///
/// The worker computes it from its tasks' progress heartbeats (DESIGN.md §5):
/// a task waiting for tokens is progressing, a task that has done no useful
/// work for too long while it has work is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Every task is progressing: `200 {"status":"ok"}`.
    Healthy,
    /// Something is stuck: `503 {"status":"unhealthy","reason":…}`.
    Unhealthy {
        /// What is stuck and since when, for the operator.
        reason: String,
    },
}

/// What the API needs: the store to read, the metrics to render and record
/// into, and a health probe. Clones share everything.
#[derive(Clone)]
pub struct ApiState {
    /// The deal store; the API only reads, through its read pool.
    pub store: DealStore,
    /// The worker's metrics: rendered by `/metrics`, request latencies recorded here.
    pub metrics: Metrics,
    /// Called on every `GET /healthz`; must be cheap and must not block
    /// (read a snapshot of the heartbeats, do not query anything).
    pub health: Arc<dyn Fn() -> Health + Send + Sync>,
}

impl ApiState {
    /// The state for `store`, `metrics` and the probe `health`.
    pub fn new(
        store: DealStore,
        metrics: Metrics,
        health: impl Fn() -> Health + Send + Sync + 'static,
    ) -> ApiState {
        ApiState {
            store,
            metrics,
            health: Arc::new(health),
        }
    }
}

impl fmt::Debug for ApiState {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("ApiState")
            .field("store", &self.store)
            .field("metrics", &"Metrics { .. }")
            .field("health", &"Fn() -> Health")
            .finish()
    }
}

/// The API's router, its state applied: ready for [`serve`] (or `axum::serve`) or for
/// driving in tests with `tower::ServiceExt::oneshot`.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route(ROUTES[0], only_get(get(deals)))
        .route(ROUTES[1], only_get(get(deal_count)))
        .route(ROUTES[2], only_get(get(healthz)))
        .route(ROUTES[3], only_get(get(metrics)))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            limit_and_time,
        ))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` completes, then stops
/// accepting connections and waits for the requests in flight to finish.
///
/// # Errors
/// Only what accepting connections on `listener` reports.
pub async fn serve(
    listener: TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

fn only_get(route: MethodRouter<ApiState>) -> MethodRouter<ApiState> {
    route.fallback(method_not_allowed)
}

/// `{"error": message}` with `status`.
fn error_response(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// Times every response and enforces the request limits before routing's handlers run.
async fn limit_and_time(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || UNMATCHED_ROUTE.to_owned(),
        |path| path.as_str().to_owned(),
    );
    let response = match refuse(&request) {
        Some(refusal) => refusal,
        None => next.run(request).await,
    };
    metrics.observe(
        "api_request_duration_seconds",
        &[("route", &route)],
        started.elapsed(),
    );
    response
}

/// The limits: query length, and no body on a `GET` (other methods are
/// refused by routing with 405 or 404).
fn refuse(request: &Request) -> Option<Response> {
    let query_bytes = request.uri().query().map_or(0, str::len);
    if query_bytes > MAX_QUERY_BYTES {
        return Some(error_response(
            StatusCode::URI_TOO_LONG,
            format!(
                "the query string has {query_bytes} bytes; at most {MAX_QUERY_BYTES} are accepted"
            ),
        ));
    }
    let is_read = request.method() == Method::GET || request.method() == Method::HEAD;
    let headers = request.headers();
    let declares_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes() != b"0");
    if is_read && declares_body {
        return Some(error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request bodies are not accepted: every route of this API is a GET without a body",
        ));
    }
    None
}

async fn deals(State(state): State<ApiState>, uri: Uri) -> Response {
    let query = match params::parse_deal_query(uri.query()) {
        Ok(query) => query,
        Err(error) => return error_response(StatusCode::BAD_REQUEST, error.to_string()),
    };
    let page = query.page.map_or(1, NonZeroU32::get);
    let limit = query.limit.get();
    match state.store.query_deals(query).await {
        Ok(found) => Json(DealsBody {
            pagination: Pagination::new(found.total, page, limit),
            deals: found.deals.iter().map(DealJson::from).collect(),
        })
        .into_response(),
        Err(error) => store_unavailable(&error),
    }
}

async fn deal_count(State(state): State<ApiState>, uri: Uri) -> Response {
    let filter = match params::parse_deal_filter(uri.query()) {
        Ok(filter) => filter,
        Err(error) => return error_response(StatusCode::BAD_REQUEST, error.to_string()),
    };
    match state.store.count_deals(filter).await {
        Ok(count) => Json(CountBody { count }).into_response(),
        Err(error) => store_unavailable(&error),
    }
}

async fn healthz(State(state): State<ApiState>) -> Response {
    match (state.health)() {
        Health::Healthy => Json(json!({ "status": "ok" })).into_response(),
        Health::Unhealthy { reason } => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unhealthy", "reason": reason })),
        )
            .into_response(),
    }
}

async fn metrics(State(state): State<ApiState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(METRICS_CONTENT_TYPE),
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn method_not_allowed(method: Method) -> Response {
    let mut response = error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method {method} is not allowed: this API only answers GET (and HEAD)"),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    response
}

async fn not_found() -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        format!("no such path; this API serves {}", ROUTES.join(", ")),
    )
}

/// A 503 saying what failed in the store, without paths or SQL.
fn store_unavailable(error: &StoreError) -> Response {
    error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "deals cannot be read right now: {}",
            describe_store_error(error)
        ),
    )
}

/// What went wrong in the store, for an API client: no file path (the API
/// may be reachable by people who should not learn the host's layout) and
/// no SQL.
pub fn describe_store_error(error: &StoreError) -> &'static str {
    match error {
        StoreError::Locked { .. } => {
            "the database is locked by a writer for longer than the busy timeout; retry shortly"
        }
        StoreError::Corrupt { .. } => {
            "the database file is corrupt or not an sqlite database; the operator must restore it"
        }
        StoreError::CannotWrite { .. } => "the database file cannot be opened",
        StoreError::DiskFull { .. } => "the database's disk is full",
        StoreError::NewerSchema { .. } | StoreError::NotMigrated { .. } => {
            "the database's schema version does not match this build"
        }
        StoreError::InvalidStoredValue { .. } => {
            "the database holds a value this build cannot read"
        }
        StoreError::TaskFailed(_) => "the database read did not complete",
        _ => "the database could not be read",
    }
}
