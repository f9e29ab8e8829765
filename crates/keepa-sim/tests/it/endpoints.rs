//! Routing, keys, parameter validation and gzip, as Keepa answers them.

use keepa_sim::SimRequest;

use crate::support::{KEY, deal_page, get, products, sim, tokens_consumed, tokens_left};

#[tokio::test(start_paused = true)]
async fn a_wrong_key_gets_400_with_an_all_zero_envelope() {
    let sim = sim(5, 100);
    let response = sim
        .handle(SimRequest::get("/token", &[("key", "not-the-key")]))
        .await;
    assert_eq!(response.status, 400);
    let body = response.json().unwrap();
    for zero in ["tokensLeft", "refillIn", "refillRate", "tokensConsumed"] {
        assert_eq!(body[zero], 0, "{zero}");
    }
    assert_eq!(body["error"]["type"], "invalidKey");
    assert!(
        !String::from_utf8_lossy(&response.body).contains(KEY),
        "the key is never echoed"
    );
    assert_eq!(sim.token_status().tokens_left, 100);
}

#[tokio::test(start_paused = true)]
async fn an_unknown_path_is_404_with_the_envelope() {
    let sim = sim(5, 100);
    let (status, body) = get(&sim, "/seller", &[]).await;
    assert_eq!(status, 404);
    assert_eq!((tokens_left(&body), tokens_consumed(&body)), (100, 0));
    assert_eq!(sim.counters().requests_with("other", 404), 1);
}

#[tokio::test(start_paused = true)]
async fn another_method_is_405() {
    let sim = sim(5, 100);
    let response = sim
        .handle(SimRequest {
            method: "DELETE".into(),
            ..SimRequest::get("/product", &[("key", KEY)])
        })
        .await;
    assert_eq!(response.status, 405);
}

#[track_caller]
fn check_400(status: u16, body: &serde_json::Value, details: &str) {
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["type"], "invalidParameter");
    assert_eq!(body["error"]["details"], details);
    assert_eq!(tokens_consumed(body), 0);
    assert!(
        body["refillRate"].as_i64().unwrap() > 0,
        "a 400 for a parameter carries the real envelope"
    );
}

#[tokio::test(start_paused = true)]
async fn malformed_selections_are_400_naming_the_field() {
    let sim = sim(5, 100);
    let (status, body) = deal_page(&sim, r#"{"domainId":1,"priceTypes":[]}"#).await;
    check_400(status, &body, "priceTypes");
    let (status, body) = deal_page(&sim, r#"{"domainId":1,"priceTypes":[1,2]}"#).await;
    check_400(status, &body, "priceTypes");
    let (status, body) = deal_page(&sim, r#"{"domainId":1,"dateRange":1}"#).await;
    check_400(status, &body, "priceTypes");
    let (status, body) = deal_page(&sim, r#"{"domainId":1,"priceTypes":[2],"dateRange":4}"#).await;
    check_400(status, &body, "dateRange");
    let (status, body) = deal_page(&sim, "{not json").await;
    check_400(status, &body, "selection");
    let (status, body) = deal_page(&sim, r#"{"priceTypes":[2]}"#).await;
    check_400(status, &body, "domainId");
    assert_eq!(sim.token_status().tokens_left, 100, "400s cost nothing");
}

#[tokio::test(start_paused = true)]
async fn malformed_product_requests_are_400_naming_the_parameter() {
    let sim = sim(5, 100);
    let asin = sim.asins()[0].clone();
    let too_many = sim.asins()[..101].join(",");
    let (status, body) = products(&sim, &[("asin", &too_many)]).await;
    check_400(status, &body, "asin");
    let (status, body) = products(&sim, &[("asin", &asin), ("offers", "10")]).await;
    check_400(status, &body, "offers");
    let (status, body) = products(&sim, &[("asin", &asin), ("offers", "101")]).await;
    check_400(status, &body, "offers");
    let (status, body) = products(&sim, &[("asin", &asin), ("stats", "soon")]).await;
    check_400(status, &body, "stats");
    let (status, body) = get(&sim, "/product", &[("asin", &asin)]).await;
    check_400(status, &body, "domain");
    let (status, body) = products(&sim, &[]).await;
    check_400(status, &body, "asin");
}

#[tokio::test(start_paused = true)]
async fn gzip_round_trips_when_asked_and_plain_json_otherwise() {
    let sim = sim(5, 100);
    let asin = sim.asins()[0].clone();
    let query = [
        ("key", KEY),
        ("domain", "1"),
        ("asin", asin.as_str()),
        ("stats", "90"),
    ];
    let plain = sim.handle(SimRequest::get("/product", &query)).await;
    assert_eq!(plain.header("content-encoding"), None);
    let gzipped = sim
        .handle(SimRequest::get("/product", &query).with_gzip())
        .await;
    assert_eq!(gzipped.header("content-encoding"), Some("gzip"));
    assert_eq!(&gzipped.body[..2], &[0x1f, 0x8b], "gzip magic");
    assert!(gzipped.body.len() < plain.body.len() / 2);
    let (mut plain_json, mut gzipped_json) = (plain.json().unwrap(), gzipped.json().unwrap());
    for envelope in [&mut plain_json, &mut gzipped_json] {
        envelope.as_object_mut().unwrap().remove("tokensLeft");
    }
    assert_eq!(plain_json, gzipped_json);
}

#[tokio::test(start_paused = true)]
async fn post_deal_with_a_body_equals_get_with_a_selection() {
    let sim = sim(5, 100);
    let selection = r#"{"domainId":1,"priceTypes":[2],"dateRange":3,"page":0,"sortType":4}"#;
    let by_get = sim
        .handle(SimRequest::get(
            "/deal",
            &[("key", KEY), ("selection", selection)],
        ))
        .await;
    let by_post = sim
        .handle(SimRequest::post("/deal", &[("key", KEY)], selection))
        .await;
    assert_eq!((by_get.status, by_post.status), (200, 200));
    let (get_json, post_json) = (by_get.json().unwrap(), by_post.json().unwrap());
    assert_eq!(get_json["deals"], post_json["deals"]);
    assert_eq!(tokens_consumed(&post_json), 5);
}
