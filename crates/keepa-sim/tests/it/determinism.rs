//! The same seed gives the same bytes; another seed gives another catalogue.

use std::time::Duration;

use keepa_sim::{Sim, SimRequest};

async fn script(sim: &Sim) -> Vec<Vec<u8>> {
    let asins = sim.asins()[..5].join(",");
    let key = [("key", "k")];
    let product = [
        ("key", "k"),
        ("domain", "1"),
        ("asin", asins.as_str()),
        ("stats", "365"),
        ("offers", "20"),
        ("buybox", "1"),
    ];
    let selection = r#"{"domainId":1,"priceTypes":[2],"dateRange":1,"page":0}"#;
    let mut bodies = Vec::new();
    bodies.push(
        sim.handle(SimRequest::get(
            "/deal",
            &[key[0], ("selection", selection)],
        ))
        .await
        .body,
    );
    bodies.push(
        sim.handle(SimRequest::get("/product", &product).with_gzip())
            .await
            .body,
    );
    tokio::time::sleep(Duration::from_secs(7 * 60)).await;
    bodies.push(
        sim.handle(SimRequest::post("/deal", &key, selection))
            .await
            .body,
    );
    bodies.push(sim.handle(SimRequest::get("/product", &product)).await.body);
    bodies
}

fn build(seed: u64) -> Sim {
    Sim::builder()
        .api_key("k")
        .seed(seed)
        .catalogue_size(300)
        .build()
}

#[tokio::test(start_paused = true)]
async fn the_same_seed_gives_the_same_bytes() {
    assert_eq!(build(9).asins(), build(9).asins());
    // Each simulator is built right before its script, so both see the same simulated times.
    let first = script(&build(9)).await;
    let second = script(&build(9)).await;
    for (index, (first, second)) in first.iter().zip(&second).enumerate() {
        assert!(
            first == second,
            "response {index} differs between two runs of the same seed"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn another_seed_gives_another_catalogue() {
    assert_ne!(build(9).asins(), build(10).asins());
}
