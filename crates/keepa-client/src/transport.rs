//! How bytes reach Keepa: the [`Transport`] trait, reqwest over HTTP, and the in-process
//! simulator (feature `sim`).
//!
//! A transport sends one request and returns the status and the (decompressed) body; it knows
//! nothing of tokens, retries or JSON. It is the only place where the API key is put on the
//! wire: [`HttpRequest`] carries it apart from the query, and its `Debug` shows `ApiKey(***)`.
//! Transport errors never carry a URL.

use std::future::Future;
use std::time::Duration;

use crate::api_key::{ApiKey, redact};

/// GET or POST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST (the `/deal` selection in the body).
    Post,
}

/// One request, with the key kept apart from the query until it is sent.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// GET or POST.
    pub method: Method,
    /// `/deal`, `/product` or `/token`.
    pub path: &'static str,
    /// Query parameters, without the key.
    pub query: Vec<(String, String)>,
    /// The JSON body of a POST.
    pub body: Option<Vec<u8>>,
    /// The key, added to the query by the transport.
    pub api_key: ApiKey,
}

/// A response: the status and the body, already decompressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

/// What went wrong below HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// The connection could not be made: the request never left, nothing was charged.
    Connect,
    /// No answer within the request timeout: the outcome is unknown.
    Timeout,
    /// The connection broke while sending or receiving: the outcome is unknown.
    Io,
    /// The transport could not be set up (bad base URL, TLS initialisation).
    Setup,
}

/// A transport failure. Its message never contains a URL or the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind:?}: {message}")]
pub struct TransportError {
    /// What kind of failure.
    pub kind: TransportErrorKind,
    /// The transport's description, with URLs stripped and the key redacted.
    pub message: String,
}

/// Sends one request. Implement it to put the client on another HTTP stack or a test double.
pub trait Transport: Send + Sync + 'static {
    /// Sends `request` and returns its status and body, whatever the status.
    fn send(
        &self,
        request: HttpRequest,
    ) -> impl Future<Output = Result<HttpResponse, TransportError>> + Send;
}

/// Timeouts every HTTP transport must set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Connecting (TCP and TLS). Default 10 s.
    pub connect: Duration,
    /// The whole request, body included. Default 60 s (a 100-product answer with offers can be
    /// several megabytes, and Keepa's processing alone was seen at 770 ms for one `/deal` page).
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(60),
        }
    }
}

/// The production transport: reqwest with rustls and gzip, timeouts always set.
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
    base_url: reqwest::Url,
}

/// Keepa's API root.
pub const KEEPA_BASE_URL: &str = "https://api.keepa.com/";

impl ReqwestTransport {
    /// A transport to `base_url` (Keepa's is [`KEEPA_BASE_URL`]; a simulator's is
    /// `http://127.0.0.1:PORT/`).
    ///
    /// # Errors
    ///
    /// [`TransportErrorKind::Setup`] when the URL cannot be a base or the HTTP client cannot be
    /// built.
    pub fn new(base_url: &str, timeouts: Timeouts) -> Result<ReqwestTransport, TransportError> {
        let setup = |message: String| TransportError {
            kind: TransportErrorKind::Setup,
            message,
        };
        let base_url = reqwest::Url::parse(base_url)
            .map_err(|error| setup(format!("invalid base url: {error}")))?;
        if base_url.cannot_be_a_base() {
            return Err(setup("the base url cannot be a base".to_owned()));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.request)
            .gzip(true)
            .user_agent(concat!("keepa-deals/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| setup(format!("http client: {}", error.without_url())))?;
        Ok(ReqwestTransport { client, base_url })
    }
}

impl Transport for ReqwestTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let classify = |error: reqwest::Error| {
            let kind = if error.is_timeout() {
                TransportErrorKind::Timeout
            } else if error.is_connect() {
                TransportErrorKind::Connect
            } else {
                TransportErrorKind::Io
            };
            // reqwest's messages quote the URL, key included: drop it, then redact anyway.
            let message = redact(&error_chain(&error.without_url()), &request.api_key);
            TransportError { kind, message }
        };
        let mut url = self
            .base_url
            .join(request.path.trim_start_matches('/'))
            .map_err(|error| TransportError {
                kind: TransportErrorKind::Setup,
                message: format!("invalid path {}: {error}", request.path),
            })?;
        url.query_pairs_mut()
            .extend_pairs(&request.query)
            .append_pair("key", request.api_key.expose());
        let builder = match request.method {
            Method::Get => self.client.get(url),
            Method::Post => self
                .client
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(request.body.clone().unwrap_or_default()),
        };
        let response = builder.send().await.map_err(classify)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(classify)?;
        Ok(HttpResponse {
            status,
            body: body.to_vec(),
        })
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The simulator in-process: [`keepa_sim::Sim::handle`] without sockets, so a simulation runs
/// under tokio's paused clock. Asks for gzip and gunzips, like the HTTP transport.
#[cfg(feature = "sim")]
#[derive(Debug, Clone)]
pub struct SimTransport {
    sim: keepa_sim::Sim,
}

#[cfg(feature = "sim")]
impl SimTransport {
    /// A transport to `sim`.
    pub fn new(sim: keepa_sim::Sim) -> SimTransport {
        SimTransport { sim }
    }

    /// The simulator, to turn its knobs.
    pub fn sim(&self) -> &keepa_sim::Sim {
        &self.sim
    }
}

#[cfg(feature = "sim")]
impl Transport for SimTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let mut query = request.query;
        query.push(("key".to_owned(), request.api_key.expose().to_owned()));
        let sim_request = keepa_sim::SimRequest {
            method: match request.method {
                Method::Get => "GET",
                Method::Post => "POST",
            }
            .to_owned(),
            path: request.path.to_owned(),
            query,
            body: request.body,
            accept_gzip: true,
        };
        let response = self.sim.handle(sim_request).await;
        let body = response.decoded_body().map_err(|error| TransportError {
            kind: TransportErrorKind::Io,
            message: format!("gunzip: {error}"),
        })?;
        Ok(HttpResponse {
            status: response.status,
            body,
        })
    }
}
