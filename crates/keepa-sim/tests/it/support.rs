//! Shared helpers: a small simulator and one-line requests.

use keepa_sim::{Sim, SimRequest};
use serde_json::Value;

pub(crate) const KEY: &str = "test-key";

/// A simulator with a small catalogue, the given plan and starting balance.
pub(crate) fn sim(refill_rate: u32, tokens: i64) -> Sim {
    Sim::builder()
        .api_key(KEY)
        .seed(42)
        .refill_rate(refill_rate)
        .tokens(tokens)
        .catalogue_size(400)
        .build()
}

/// Sends a GET with the key added; returns the status and the parsed body.
pub(crate) async fn get(sim: &Sim, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
    let mut with_key = vec![("key", KEY)];
    with_key.extend_from_slice(query);
    let response = sim.handle(SimRequest::get(path, &with_key)).await;
    let body = response
        .json()
        .unwrap_or_else(|error| panic!("{path} answered non-JSON: {error}"));
    (response.status, body)
}

pub(crate) async fn deal_page(sim: &Sim, selection: &str) -> (u16, Value) {
    get(sim, "/deal", &[("selection", selection)]).await
}

pub(crate) async fn products(sim: &Sim, query: &[(&str, &str)]) -> (u16, Value) {
    let mut with_domain = vec![("domain", "1")];
    with_domain.extend_from_slice(query);
    get(sim, "/product", &with_domain).await
}

pub(crate) fn tokens_left(body: &Value) -> i64 {
    body["tokensLeft"].as_i64().expect("tokensLeft")
}

pub(crate) fn tokens_consumed(body: &Value) -> i64 {
    body["tokensConsumed"].as_i64().expect("tokensConsumed")
}

pub(crate) fn i64s(value: &Value) -> Vec<i64> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(|item| item.as_i64().expect("an integer"))
        .collect()
}
