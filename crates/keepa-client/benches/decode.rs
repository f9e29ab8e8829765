//! Decoding benchmark: Keepa JSON into the typed wire model (and on into domain types) against
//! `serde_json::from_slice::<serde_json::Value>` of the same bytes, in the same run.
//!
//! Bodies: the real `/product` and `/deal` captures in `shared/keepa-samples/` (skipped with a
//! printed reason when absent) and a generated 100-product `/product` answer (history, 365-day
//! statistics, 20 offers) taken once from the simulator. One JSON line per figure via
//! `benchkit::report`; the goal is a ratio ≤ 1 (typed no slower than `Value`).

use std::path::PathBuf;

use benchkit::{black_box, measure, report};
use keepa_client::convert;
use keepa_client::wire::{DealResponse, ProductResponse};
use serde::de::DeserializeOwned;

fn sample(name: &str) -> Option<Vec<u8>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/keepa-samples")
        .join(name);
    match std::fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(error) => {
            eprintln!("skipping {}: {error}", path.display());
            None
        }
    }
}

fn generated_products() -> Vec<u8> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let sim = keepa_sim::Sim::builder()
            .api_key("benchkey")
            .seed(3)
            .catalogue_size(400)
            .build();
        let asins = sim.asins()[..100].join(",");
        let response = sim
            .handle(keepa_sim::SimRequest::get(
                "/product",
                &[
                    ("key", "benchkey"),
                    ("domain", "1"),
                    ("asin", &asins),
                    ("stats", "365"),
                    ("offers", "20"),
                ],
            ))
            .await;
        assert_eq!(
            response.status, 200,
            "the simulator answered the 100-product request"
        );
        response.decoded_body().expect("an uncompressed body")
    })
}

/// Typed decode, typed decode + conversion, and `Value`, of one body.
fn compare<R: DeserializeOwned>(label: &str, bytes: &[u8], convert_all: impl Fn(&R) -> usize) {
    let value = measure(&format!("{label} value"), || {
        black_box(serde_json::from_slice::<serde_json::Value>(black_box(bytes)).unwrap());
    });
    let typed = measure(&format!("{label} typed"), || {
        black_box(serde_json::from_slice::<R>(black_box(bytes)).unwrap());
    });
    let domain = measure(&format!("{label} domain"), || {
        let decoded = serde_json::from_slice::<R>(black_box(bytes)).unwrap();
        black_box(convert_all(&decoded));
    });
    let baseline = "serde_json::Value";
    report(
        &format!("decode {label} typed ({} bytes)", bytes.len()),
        typed.ns_per_iter,
        "ns/decode",
        baseline,
        value.ns_per_iter,
    );
    report(
        &format!("decode {label} typed+domain ({} bytes)", bytes.len()),
        domain.ns_per_iter,
        "ns/decode",
        baseline,
        value.ns_per_iter,
    );
}

fn convert_products(response: &ProductResponse) -> usize {
    response
        .products
        .iter()
        .filter_map(|product| convert::product(product).ok())
        .count()
}

fn convert_deals(response: &DealResponse) -> usize {
    response
        .deals
        .as_ref()
        .map_or(0, |deals| convert::deal_page(&deals.dr).0.len())
}

fn main() {
    if let Some(bytes) = sample("product-B0D8W1YVBX-2026-05.json") {
        compare::<ProductResponse>("/product real sample", &bytes, convert_products);
    }
    if let Some(bytes) = sample("deal-page-used-2025-04.json") {
        compare::<DealResponse>("/deal real sample", &bytes, convert_deals);
    }
    let generated = generated_products();
    compare::<ProductResponse>("/product 100 generated", &generated, convert_products);
}
